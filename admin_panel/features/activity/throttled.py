"""Activity Logs → Throttled sign-ins (super admins): the table of slowed keys with Unlock and its confirmation."""

import reflex as rx

from admin_panel.features.activity.throttled_state import ThrottledState as S
from admin_panel.ui import styles
from admin_panel.ui.widgets import confirm_dialog

COLUMNS = (("kind", "Kind"), ("subject", "Account, address or browser"), ("failures", "Failures"),
           ("last_failure", "Last failure"), ("wait", "Next attempt in"))


def _confirm() -> rx.Component:
    return confirm_dialog(
        "Unlock sign-in?",
        rx.text("The failed attempts of ", rx.text.strong(S.confirm_subject),
                " are forgotten and the next attempt is heard at once. The unlock is recorded in the audit trail."),
        on_cancel=S.cancel_unlock,
        confirm=rx.button("Unlock", on_click=S.confirm_unlock, id="confirm-unlock"),
        open=S.confirm_open,
    )


def _row(r) -> rx.Component:
    return rx.table.row(
        *[rx.table.cell(r[key]) for key, _ in COLUMNS],
        rx.table.cell(rx.hstack(
            rx.cond(r["slowed"] == "1", rx.badge("slowed", color_scheme="amber"), rx.badge("counting",
                                                                                          color_scheme="gray")),
            rx.button("Unlock", size="1", variant="soft", on_click=S.ask_unlock(r["key"]),
                      aria_label="Unlock " + r["subject"]),
            spacing="2", align="center")),
    )


def throttled_panel() -> rx.Component:
    return rx.vstack(
        rx.text("Failed sign-ins slow the next attempt down (2, 4, 8 … seconds); nothing is ever locked. "
                "A browser that signed in fully before counts its failures on its own key.", size="2",
                color=styles.muted_text_color),
        rx.cond(S.error != "", rx.callout(S.error, color_scheme="red", icon="triangle-alert", width="100%",
                                          role="alert")),
        rx.cond(S.message != "", rx.callout(S.message, color_scheme="green", icon="check", width="100%",
                                            id="throttled-message")),
        rx.cond(S.rows.length() > 0,
                rx.box(rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(label) for _, label in COLUMNS],
                                                 rx.table.column_header_cell("State"))),
                    rx.table.body(rx.foreach(S.rows, _row)),
                    size="1", width="100%", id="throttled-table"), overflow_x="auto", width="100%"),
                rx.text("No sign-in is being slowed down.", size="2", id="throttled-empty")),
        rx.button(rx.icon("refresh-cw", size=14), "Refresh", size="1", variant="outline", on_click=S.load),
        _confirm(),
        spacing="3", width="100%",
    )
