"""`/admin`: the admin landing page (who is signed in, the working org, the super admin's org switcher)."""

import reflex as rx

from .. import styles
from ..components.app_header import app_header, card, page_frame
from ..state.admin import AdminState

ROUTE, TITLE = "/admin", "Admin Panel · Steward"


def _org_item(org: dict) -> rx.Component:
    return rx.button(
        rx.icon("building-2", size=14),
        org["name"],
        variant="ghost",
        size="2",
        justify_content="flex-start",
        width="100%",
        on_click=AdminState.switch_org(org["id"]),
        class_name="org-option",
        margin="0",
    )


def org_switcher() -> rx.Component:
    """Super admins only: a searchable list of every organization in a popover."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(rx.icon("building-2", size=16), AdminState.org_name, rx.icon("chevrons-up-down", size=14),
                      variant="surface", id="org-switcher", max_width="260px"),
        ),
        rx.popover.content(
            rx.vstack(
                rx.input(rx.input.slot(rx.icon("search", size=14)), placeholder="Search organizations",
                         value=AdminState.org_query, on_change=AdminState.set_org_query, id="org-search",
                         width="100%"),
                rx.box(
                    rx.vstack(
                        rx.button(rx.icon("layers", size=14), "All organizations", variant="ghost", size="2",
                                  justify_content="flex-start", width="100%", on_click=AdminState.switch_org("all"),
                                  class_name="org-option", margin="0"),
                        rx.foreach(AdminState.filtered_orgs, _org_item),
                        spacing="1",
                        width="100%",
                    ),
                    max_height="300px",
                    overflow_y="auto",
                    overflow_x="hidden",
                    width="100%",
                ),
                spacing="2",
                width="280px",
            ),
            align="end",
        ),
    )


def _row(label: str, value, value_id: str) -> rx.Component:
    return rx.hstack(rx.text(label, size="2", color=styles.muted_text_color, min_width="9rem"),
                     rx.text(value, size="2", weight="medium", id=value_id), width="100%", wrap="wrap")


def admin_page() -> rx.Component:
    header = app_header(
        rx.cond(AdminState.is_super, org_switcher(),
                rx.badge(rx.icon("building-2", size=12), AdminState.org_name, size="2", variant="soft",
                         id="org-badge")),
        rx.link("My account", href="/me", size="2", weight="medium"),
    )
    return page_frame(
        header,
        rx.vstack(
            rx.heading("Admin Panel", size="7", as_="h1"),
            rx.text("Working in ", rx.text.strong(AdminState.org_name, id="working-org"), ".",
                    color=styles.muted_text_color),
            rx.cond(AdminState.error != "", rx.callout(AdminState.error, icon="triangle-alert", color_scheme="red",
                                                       width="100%", role="alert")),
            card(
                rx.vstack(
                    rx.heading("Signed in", size="4"),
                    _row("Name", AdminState.name, "who-name"),
                    _row("Email", AdminState.email, "who-email"),
                    _row("Role", AdminState.role_label, "who-role"),
                    _row("Organization", AdminState.org_name, "who-org"),
                    spacing="3",
                    width="100%",
                ),
            ),
            card(
                rx.text("User management, token distribution, requests, statistics and activity logs arrive "
                        "with the next issues.", size="2", color=styles.muted_text_color),
            ),
            spacing="4",
            width="100%",
        ),
    )
