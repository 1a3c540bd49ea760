"""The sign-in page, served at `/` and `/login`."""

import reflex as rx

from .. import styles
from ..components.brand_panel import brand_panel
from ..components.sign_in_form import sign_in_form

ROUTES = ("/", "/login")
TITLE = "Sign in · Steward"


def login() -> rx.Component:
    """Brand panel (wide screens only) beside the centred sign-in card."""
    return rx.flex(
        brand_panel(),
        rx.flex(
            rx.color_mode.button(position="top-right", id="color-mode-toggle"),
            sign_in_form(),
            flex="1",
            align="center",
            justify="center",
            padding=rx.breakpoints(initial="1.5rem", sm="3rem"),
            background_color=styles.auth_page_background,
        ),
        min_height="100vh",
        width="100%",
    )
