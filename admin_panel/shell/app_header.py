"""The header of the signed-in pages: mark, product name, working org, user, sign out."""

import reflex as rx

from admin_panel.shell.session import SessionState
from admin_panel.ui import styles
from admin_panel.ui.logo import PRODUCT_NAME, logo_mark
from admin_panel.ui.widgets import content_column, header_bar


def sign_out_button() -> rx.Component:
    return rx.button(rx.icon("log-out", size=16), "Sign out", variant="soft", color_scheme="gray",
                     on_click=SessionState.sign_out, id="sign-out")


def app_header(*right: rx.Component) -> rx.Component:
    return header_bar(
        rx.hstack(logo_mark(size="32px"), rx.text(PRODUCT_NAME, size="4", weight="bold"), align="center",
                  spacing="2"),
        rx.spacer(),
        *right,
        rx.color_mode.button(id="color-mode-toggle"),
        sign_out_button(),
        padding_x=rx.breakpoints(initial="1rem", sm="2rem"),
        wrap="wrap",
    )


def page_frame(header: rx.Component, *content: rx.Component) -> rx.Component:
    return rx.box(
        header,
        content_column(*content, max_width="1100px", padding=rx.breakpoints(initial="1rem", sm="2rem")),
        min_height="100vh",
        width="100%",
        background_color=styles.auth_page_background,
    )


def card(*children: rx.Component, **props) -> rx.Component:
    return rx.box(*children, padding="1.5rem", border=styles.border, border_radius=styles.border_radius,
                  background_color="var(--color-panel-solid)", width="100%", **props)
