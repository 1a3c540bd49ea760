"""Step-up MFA: sensitive actions (ban, role change, large grants, API keys) need a code from the last
few minutes. A handler that gets `StepUpRequired` from a service calls `await ask_step_up(self, retry)`;
the shell's dialog asks for a fresh code and, once it is accepted, runs `retry` again."""

import reflex as rx
from reflex_base.registry import RegistrationContext
from reflex_base.utils.format import format_event_handler

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, AdminArea, current_session
from services.auth import mfa, sessions
from services.core.errors import DomainError

WRONG_CODE = "That code is not valid. Check your authenticator app and try again."


def verified_if(db, session_id: int, outcome):
    """Mark the session MFA-verified when the code check succeeded (same transaction)."""
    if outcome:
        sessions.mark_mfa_verified(db, session_id)
    return outcome


def session_code_ok(db, info, code) -> bool:
    """Check a code from the app (or a recovery code); when right, mark this session MFA-verified (in the same
    transaction). Raises DomainError while guesses are throttled."""
    return verified_if(db, info.session_id, mfa.verify(db, user_id=info.user_id, code=code,
                                                       device_id=info.device_id))


class StepUpState(AdminArea, rx.State):
    is_open: bool = False
    error: str = ""
    _retry: str = ""  # full name of the handler to run again once verified (set on the server only)

    @rx.event
    def cancel(self):
        self.is_open, self.error, self._retry = False, "", ""

    @rx.event
    def set_open(self, value: bool):
        if value is not True:
            self.cancel()

    @rx.event
    async def verify(self, form_data: dict):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        code = form_data.get("code", "") if isinstance(form_data, dict) else ""
        code = code if isinstance(code, str) else ""

        try:
            ok = await in_db(lambda db: session_code_ok(db, info, code))
        except DomainError as e:
            self.error = e.message
            return None
        if not ok:
            self.error = WRONG_CODE
            return None
        retry, self._retry = self._retry, ""
        self.is_open, self.error = False, ""
        registered = RegistrationContext.get().event_handlers.get(retry) if retry else None
        return registered.handler if registered is not None else None


async def ask_step_up(state: rx.State, retry=None) -> None:
    """Open the step-up dialog from another handler; `retry` is an event handler (e.g. `UsersState.apply_ban`)
    without arguments that runs again after a good code."""
    step = await state.get_state(StepUpState)
    step.is_open, step.error = True, ""
    step._retry = _full_name(retry) if retry is not None else ""


def _full_name(handler) -> str:
    return format_event_handler(handler)


def step_up_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Confirm it is you"),
            rx.alert_dialog.description(
                "This action needs a fresh code from your authenticator app.", size="2", margin_bottom="1rem"),
            rx.form(
                rx.vstack(
                    rx.input(name="code", placeholder="123456", auto_complete="one-time-code", input_mode="numeric",
                             max_length=20, auto_focus=True, width="100%", id="step-up-code"),
                    rx.cond(StepUpState.error != "", rx.text(StepUpState.error, color_scheme="red", size="2",
                                                             role="alert")),
                    rx.hstack(
                        rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                         type="button", on_click=StepUpState.cancel)),
                        rx.button("Confirm", type="submit", id="step-up-confirm"),
                        justify="end", width="100%", spacing="3",
                    ),
                    spacing="3",
                ),
                on_submit=StepUpState.verify,
                reset_on_submit=True,
            ),
            max_width="420px",
        ),
        open=StepUpState.is_open,
    )
