"""Sign-in, forgot password, reset password (Public) and sign out (PasswordStep)."""

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import (
    LOGIN_ROUTE,
    MFA_SETUP_ROUTE,
    MFA_VERIFY_ROUTE,
    AuthState,
    Public,
    current_session,
    landing_route,
)
from services.auth import signin
from services.core.errors import DomainError

NEXT_STEP_ROUTES = {"enrol_mfa": MFA_SETUP_ROUTE, "verify_mfa": MFA_VERIFY_ROUTE, "member": "/me", "admin": "/admin"}
MAX_FIELD = 500


def _field(form_data, name: str) -> str:
    """A text field of a submitted form; anything that is not a short string becomes ''."""
    value = form_data.get(name, "") if isinstance(form_data, dict) else ""
    return value if isinstance(value, str) and len(value) <= MAX_FIELD else ""


class LoginState(Public, rx.State):
    """The sign-in form."""

    error: str = ""
    busy: bool = False

    @rx.event
    async def check_signed_in(self):
        """On load: a browser that is already signed in goes where it belongs; a dead token is dropped.

        It leaves `error` alone: a form submitted before the page finished loading runs before this."""
        auth_state = await self.get_state(AuthState)
        if not auth_state.token:
            return None
        info = await current_session(self)
        if info is None:
            auth_state.token = ""
            return None
        return rx.redirect(landing_route(info))

    @rx.event
    async def sign_in(self, form_data: dict):
        email, password = _field(form_data, "email"), _field(form_data, "password")
        ip, ua = self.router.session.client_ip, self.router.headers.user_agent

        auth_state = await self.get_state(AuthState)
        device = auth_state.device
        result = await in_db(lambda db: signin.sign_in(db, email=email, password=password, ip=ip, user_agent=ua,
                                                     device_token=device))
        if not result.ok or not result.token:
            self.error = result.message or signin.BAD_LOGIN
            return None
        self.error = ""
        auth_state.token = result.token
        if result.device_token:
            auth_state.device = result.device_token
        return rx.redirect(NEXT_STEP_ROUTES.get(result.next_step, LOGIN_ROUTE))


class ForgotPasswordState(Public, rx.State):
    """Ask for a reset link. The answer never says whether the account exists."""

    message: str = ""

    @rx.event
    def clear(self):
        self.message = ""

    @rx.event
    async def request_link(self, form_data: dict):
        email = _field(form_data, "email")

        self.message = await in_db(lambda db: signin.request_reset(db, email=email))


class ResetPasswordState(Public, rx.State):
    """Choose a new password with the single-use link from the e-mail (`/reset-password?token=`)."""

    error: str = ""
    done: bool = False

    @rx.event
    def clear(self):
        self.error, self.done = "", False

    @rx.event
    async def set_new_password(self, form_data: dict):
        token = self.router.url.query_parameters.get("token", "")
        password, confirm = _field(form_data, "password"), _field(form_data, "confirm")
        if password != confirm:
            self.error = "The two passwords do not match."
            return
        if not isinstance(token, str):
            token = ""

        try:
            await in_db(lambda db: signin.reset_password(db, token=token, new_password=password))
        except DomainError as e:
            self.error = e.message
            return
        self.error, self.done = "", True
