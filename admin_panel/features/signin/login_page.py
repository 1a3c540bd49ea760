"""The sign-in page, served at `/` and `/login`."""

import reflex as rx

from admin_panel.features.signin.sign_in_form import sign_in_form
from admin_panel.features.signin.state import LoginState
from admin_panel.shell.registry import public_page
from admin_panel.ui.auth_layout import auth_layout


@public_page(route=["/", "/login"], title="Sign in", on_load=LoginState.check_signed_in)
def login() -> rx.Component:
    """Brand panel (wide screens only) beside the centred sign-in card."""
    return auth_layout(sign_in_form())
