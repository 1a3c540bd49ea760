"""The sign-in card: product name, e-mail and password fields, the submit button (LoginState.sign_in)."""

import reflex as rx

from admin_panel.features.signin.state import LoginState
from admin_panel.ui import styles
from admin_panel.ui.auth_layout import error_callout, form_field, icon_input
from admin_panel.ui.logo import PRODUCT_NAME, TAGLINE, logo_mark


def _email_input() -> rx.Component:
    return icon_input("email", "mail", type="email", placeholder="you@company.com", auto_complete="username",
                      required=True)


def _password_input() -> rx.Component:
    return icon_input("password", "lock", type="password", placeholder="Your password",
                      auto_complete="current-password", required=True)


def _forgot_password() -> rx.Component:
    return rx.link("Forgot password?", href="/forgot-password", size="2", color=styles.accent_text_color,
                   id="forgot-password-link")


def sign_in_form() -> rx.Component:
    """The sign-in card."""
    return rx.box(
        rx.vstack(
            logo_mark(size="48px"),
            rx.heading(PRODUCT_NAME, as_="h1", size="8", weight="bold", letter_spacing="-0.02em"),
            rx.text(TAGLINE, size="3", color=styles.muted_text_color),
            spacing="2",
            align="center",
            width="100%",
            padding_bottom="1.5rem",
        ),
        rx.form(
            rx.vstack(
                error_callout(LoginState.error),
                form_field("Email", "email", _email_input()),
                form_field("Password", "password", _password_input(), aside=_forgot_password()),
                rx.button("Sign in", type="submit", size="3", width="100%", margin_top="0.5rem"),
                spacing="4",
                width="100%",
            ),
            on_submit=LoginState.sign_in,
            width="100%",
        ),
        rx.text("New here? ", rx.link("Create an account", href="/register", color=styles.accent_text_color,
                                      id="register-link"),
                size="2", align="center", width="100%", padding_top="1rem"),
        rx.separator(size="4", margin_y="1.5rem"),
        rx.text(
            "Administrators confirm every sign-in with an authenticator app.",
            size="1",
            color=styles.muted_text_color,
            align="center",
        ),
        style=styles.auth_card_style,
    )
