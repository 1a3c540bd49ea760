"""MFA enrolment (QR code, secret, first code, recovery codes) and verification after the password."""

import reflex as rx

from admin_panel.features.signin.state import _field
from admin_panel.runtime.guard import (
    LOGIN_ROUTE,
    MFA_SETUP_ROUTE,
    MFA_VERIFY_ROUTE,
    AuthState,
    PasswordStep,
    current_session,
    landing_route,
)
from admin_panel.shell.handler import as_session, shown
from admin_panel.shell.stepup import WRONG_CODE, session_code_ok, verified_if
from models import utcnow
from services.auth import devices, mfa


async def trust_this_browser(state: rx.State, info) -> None:
    """The sign-in is complete (password and code): this browser counts its own failures from now on."""
    auth_state = await state.get_state(AuthState)
    auth_state.device = devices.issue(info.user_id, info.device_id, utcnow())


class MfaSetupState(PasswordStep, rx.State):
    """`/mfa/setup`: the pending secret is shown to its owner only, until enrolment is confirmed."""

    qr_data_uri: str = ""
    secret: str = ""
    recovery_codes: list[str] = []
    error: str = ""

    @rx.event
    async def load(self):
        if self.recovery_codes:
            return None  # just enrolled: the codes stay on screen until "Continue"
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        if info.mfa_enabled:
            return rx.redirect(landing_route(info))
        got = await shown(self, lambda db: mfa.begin_enrolment(db, user_id=info.user_id))
        if got:
            self.qr_data_uri, self.secret = got.value.qr_data_uri, got.value.secret
        return None

    @rx.event
    async def confirm(self, form_data: dict):
        code = _field(form_data, "code")
        got = await as_session(self, lambda db, info: (info, verified_if(db, info.session_id, mfa.confirm_enrolment(
            db, user_id=info.user_id, code=code, device_id=info.device_id))))
        if not got:
            return got.reply
        info, codes = got.value
        if not codes:
            self.error = WRONG_CODE
            return None
        self.error, self.secret, self.qr_data_uri = "", "", ""
        self.recovery_codes = codes
        await trust_this_browser(self, info)
        return None

    @rx.event
    async def finish(self):
        """The recovery codes have been saved: forget them and go on."""
        self.recovery_codes = []
        info = await current_session(self)
        return rx.redirect(landing_route(info))


class MfaVerifyState(PasswordStep, rx.State):
    """`/mfa/verify`: a code from the app, or a recovery code."""

    error: str = ""

    @rx.event
    async def load(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        if not info.mfa_enabled:
            return rx.redirect(MFA_SETUP_ROUTE) if info.role != "member" else rx.redirect(landing_route(info))
        if info.mfa_ok:
            return rx.redirect(landing_route(info))
        return None

    @rx.event
    async def verify(self, form_data: dict):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        if not info.mfa_enabled:
            return rx.redirect(MFA_SETUP_ROUTE)
        code = _field(form_data, "code")
        got = await shown(self, lambda db: session_code_ok(db, info, code))
        if not got:
            return None
        if not got.value:
            self.error = WRONG_CODE
            return None
        self.error = ""
        await trust_this_browser(self, info)
        info = await current_session(self)
        return rx.redirect(landing_route(info) if info else MFA_VERIFY_ROUTE)
