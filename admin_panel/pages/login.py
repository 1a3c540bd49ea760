"""The sign-in page, served at `/` and `/login`."""

import reflex as rx

from ..components.auth_layout import auth_layout
from ..components.sign_in_form import sign_in_form
from ..state.auth import LoginState

ROUTES = ("/", "/login")
TITLE = "Sign in · Steward"
ON_LOAD = LoginState.check_signed_in


def login() -> rx.Component:
    """Brand panel (wide screens only) beside the centred sign-in card."""
    return auth_layout(sign_in_form())
