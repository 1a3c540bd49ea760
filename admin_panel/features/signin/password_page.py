"""Forgot password (`/forgot-password`) and reset password (`/reset-password?token=…`)."""

import reflex as rx

from admin_panel.features.signin.state import ForgotPasswordState, ResetPasswordState
from admin_panel.shell.registry import public_page
from admin_panel.ui import styles
from admin_panel.ui.auth_layout import (
    auth_card,
    auth_layout,
    back_to_sign_in,
    error_callout,
    form_field,
    icon_input,
    new_password_field,
)


@public_page(route="/forgot-password", title="Forgot password", on_load=ForgotPasswordState.clear)
def forgotnew_password_field() -> rx.Component:
    form = rx.form(
        rx.vstack(
            form_field("Email", "email", icon_input("email", "mail", type="email", placeholder="you@company.com",
                                                    required=True, auto_complete="username")),
            rx.button("Send reset link", type="submit", size="3", width="100%"),
            spacing="4",
            width="100%",
        ),
        on_submit=ForgotPasswordState.request_link,
        width="100%",
    )
    sent = rx.callout(ForgotPasswordState.message, icon="mail-check", color_scheme="green", width="100%",
                      id="reset-requested")
    return auth_layout(auth_card(
        "Forgot your password?",
        "Enter your work e-mail. If it belongs to an account, we send a link to choose a new password.",
        rx.vstack(rx.cond(ForgotPasswordState.message != "", sent, form), back_to_sign_in(), spacing="5",
                  width="100%"),
        icon="key-round",
    ))


@public_page(route="/reset-password", title="Reset password", on_load=ResetPasswordState.clear)
def resetnew_password_field() -> rx.Component:
    form = rx.form(
        rx.vstack(
            error_callout(ResetPasswordState.error),
            new_password_field("password", "New password"),
            new_password_field("confirm", "Repeat the new password"),
            rx.button("Set new password", type="submit", size="3", width="100%"),
            spacing="4",
            width="100%",
        ),
        on_submit=ResetPasswordState.set_new_password,
        width="100%",
    )
    done = rx.callout("Your password has been changed and your other sessions were signed out. Sign in with "
                      "the new password.", icon="circle-check", color_scheme="green", width="100%", id="reset-done")
    return auth_layout(auth_card(
        "Choose a new password",
        "The link works once and expires after an hour.",
        rx.vstack(rx.cond(ResetPasswordState.done, done, form), back_to_sign_in(), spacing="5", width="100%"),
        rx.text("Use at least the length your organization requires; avoid reusing an old password.",
                size="1", color=styles.muted_text_color, padding_top="1rem"),
        icon="key-round",
    ))
