"""Public account pages: accept an invitation, register, confirm an e-mail address (not shell pages)."""

import reflex as rx

from admin_panel.features.signup.state import InviteState, RegisterState, VerifyEmailState
from admin_panel.shell.registry import public_page
from admin_panel.ui.auth_layout import (
    auth_card,
    auth_layout,
    back_to_sign_in,
    error_callout,
    form_field,
    icon_input,
    new_password_field,
)


@public_page(route="/invite", title="Accept invitation", on_load=InviteState.load)
def invite_page() -> rx.Component:
    form = rx.form(
        rx.vstack(
            rx.text("Account: ", rx.text.strong(InviteState.email), size="2"),
            new_password_field("password", "Choose a password"),
            new_password_field("confirm", "Repeat the password"),
            rx.button("Set password", type="submit", size="3", width="100%"),
            spacing="4", width="100%",
        ),
        on_submit=InviteState.accept, width="100%",
    )
    return auth_layout(auth_card(
        "Welcome to Steward",
        "Choose the password for your new account. The invitation link works once.",
        rx.vstack(error_callout(InviteState.error), rx.cond(InviteState.email != "", form), back_to_sign_in(),
                  spacing="5", width="100%"),
        icon="user-check",
    ))


@public_page(route="/register", title="Create an account", on_load=RegisterState.clear)
def register_page() -> rx.Component:
    form = rx.form(
        rx.vstack(
            error_callout(RegisterState.error),
            form_field("Work e-mail", "email", icon_input("email", "mail", type="email", required=True,
                                                          auto_complete="username", placeholder="you@company.com")),
            form_field("Name", "name", icon_input("name", "user", required=True, auto_complete="name")),
            new_password_field("password", "Password"),
            new_password_field("confirm", "Repeat the password"),
            rx.button("Create account", type="submit", size="3", width="100%", id="register-submit"),
            spacing="4", width="100%",
        ),
        on_submit=RegisterState.register, width="100%",
    )
    sent = rx.callout(RegisterState.message, icon="mail-check", color_scheme="green", width="100%",
                      id="registered")
    return auth_layout(auth_card(
        "Create an account",
        "If your organization uses Steward, you join it once your e-mail address is confirmed; an administrator "
        "then activates your account.",
        rx.vstack(rx.cond(RegisterState.message != "", sent, form), back_to_sign_in(), spacing="5", width="100%"),
        icon="user-plus",
    ))


@public_page(route="/verify-email", title="Confirm your e-mail", on_load=VerifyEmailState.clear)
def verify_email_page() -> rx.Component:
    done = rx.callout(VerifyEmailState.message, icon="circle-check", color_scheme="green", width="100%",
                      id="email-verified")
    ask = rx.button("Confirm my e-mail address", size="3", width="100%", on_click=VerifyEmailState.confirm,
                    id="verify-email-button")
    return auth_layout(auth_card(
        "Confirm your e-mail",
        "One click confirms the address you registered with.",
        rx.vstack(error_callout(VerifyEmailState.error), rx.cond(VerifyEmailState.message != "", done, ask),
                  back_to_sign_in(), spacing="5", width="100%"),
        icon="mail-check",
    ))
