"""User Management: the "Export CSV" menu (basic or full with usage; state: ExportUsersState)."""

import reflex as rx

from admin_panel.features.users.export_users_state import ExportUsersState as S


def export_users_menu() -> rx.Component:
    """A button with a menu: basic export or full export with usage. The file downloads in this tab."""
    return rx.vstack(
        rx.menu.root(
            rx.menu.trigger(rx.button(
                rx.cond(S.exporting, rx.spinner(size="1"), rx.icon("download", size=16)),
                "Export CSV", variant="soft", disabled=S.exporting, id="export-users-button")),
            rx.menu.content(
                rx.menu.item("Basic (users and caps)", on_click=S.export("basic"), id="export-basic"),
                rx.menu.item("Full (with usage: this month, previous month, all time)", on_click=S.export("full"),
                             id="export-full"),
            ),
        ),
        rx.cond(S.error != "", rx.text(S.error, size="1", color=rx.color("red", 11), id="export-error")),
        spacing="1",
    )
