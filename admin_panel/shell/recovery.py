"""User menu → New recovery codes: after a confirmation (the old codes stop working) and a fresh MFA code
(step-up), ten new codes are shown once."""

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, AdminArea, current_session
from admin_panel.shell.stepup import ask_step_up
from services.auth import mfa
from services.core.errors import DomainError, StepUpRequired


class RecoveryCodesState(AdminArea, rx.State):
    confirm_open: bool = False
    codes: list[str] = []  # shown once, cleared when the dialog closes
    error: str = ""

    @rx.event
    def ask(self):
        self.confirm_open, self.codes, self.error = True, [], ""

    @rx.event
    def close(self):
        self.confirm_open, self.codes, self.error = False, [], ""

    @rx.event
    def set_open(self, value: bool):
        if value is not True:
            self.close()

    @rx.event
    async def regenerate(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        actor = info.actor()
        try:
            codes = await in_db(lambda db: mfa.regenerate_recovery_codes(db, actor=actor))
        except StepUpRequired:  # this dialog steps aside for the code dialog, and comes back with the codes
            self.confirm_open = False
            await ask_step_up(self, RecoveryCodesState.regenerate)
            return None
        except DomainError as e:
            self.error = e.message
            return None
        self.codes, self.error, self.confirm_open = codes, "", True
        return None


def recovery_codes_dialog() -> rx.Component:
    ask = rx.vstack(
        rx.alert_dialog.description(
            "Ten new one-time codes replace your current recovery codes, which stop working at once. You will "
            "confirm with a code from your authenticator app.", size="2"),
        rx.cond(RecoveryCodesState.error != "", rx.callout(RecoveryCodesState.error, icon="triangle-alert",
                                                           color_scheme="red", width="100%", role="alert")),
        rx.hstack(
            rx.button("Cancel", variant="soft", color_scheme="gray", type="button", on_click=RecoveryCodesState.close),
            rx.button("Create new codes", color_scheme="red", on_click=RecoveryCodesState.regenerate,
                      id="recovery-regenerate"),
            justify="end", width="100%", spacing="3",
        ),
        spacing="3", width="100%",
    )
    show = rx.vstack(
        rx.callout("Save these codes now: each works once if you lose your phone, and they are not shown again.",
                   icon="key-round", width="100%"),
        rx.grid(rx.foreach(RecoveryCodesState.codes, lambda c: rx.code(c, size="3")), columns="2", spacing="2",
                id="new-recovery-codes"),
        rx.hstack(
            rx.button(rx.icon("copy", size=14), "Copy all", variant="soft", type="button",
                      on_click=[rx.set_clipboard(RecoveryCodesState.codes.join("\n")),
                                rx.toast.info("Recovery codes copied.")]),
            rx.button("I have saved them", on_click=RecoveryCodesState.close, id="recovery-saved"),
            justify="end", width="100%", spacing="3",
        ),
        spacing="3", width="100%",
    )
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("New recovery codes"),
            rx.cond(RecoveryCodesState.codes.length() > 0, show, ask),
            max_width="440px",
        ),
        open=RecoveryCodesState.confirm_open,
        on_open_change=RecoveryCodesState.set_open,
    )
