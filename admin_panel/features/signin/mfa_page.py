"""MFA enrolment (`/mfa/setup`) and verification (`/mfa/verify`)."""

import reflex as rx

from admin_panel.features.signin.mfa_state import MfaSetupState, MfaVerifyState
from admin_panel.shell.app_header import sign_out_button
from admin_panel.shell.registry import public_page
from admin_panel.ui import styles
from admin_panel.ui.auth_layout import auth_card, auth_layout, code_input, error_callout, form_field


def _code_form(error, control: rx.Component, submit: str, on_submit) -> rx.Component:
    return rx.form(
        rx.vstack(
            error_callout(error),
            form_field("Authentication code", "code", control),
            rx.button(submit, type="submit", size="3", width="100%"),
            spacing="4",
            width="100%",
        ),
        on_submit=on_submit,
        reset_on_submit=True,
        width="100%",
    )


def _mfa_page(title: str, subtitle: str, body: rx.Component) -> rx.Component:
    """The MFA card, with Sign out below its content."""
    return auth_layout(auth_card(
        title,
        subtitle,
        body,
        rx.separator(size="4", margin_y="1.25rem"),
        rx.center(sign_out_button(), width="100%"),
        icon="smartphone",
    ))


def _enrol() -> rx.Component:
    return rx.vstack(
        rx.text("1. Scan this QR code with an authenticator app (or enter the key below).", size="2"),
        rx.center(
            rx.cond(
                MfaSetupState.qr_data_uri != "",
                rx.image(src=MfaSetupState.qr_data_uri, alt="QR code for your authenticator app", width="200px",
                         height="200px", id="mfa-qr", border_radius="var(--radius-3)"),
                rx.skeleton(width="200px", height="200px"),
            ),
            width="100%",
            padding="0.75rem",
            background_color="white",
            border=styles.border,
            border_radius=styles.border_radius,
        ),
        rx.vstack(
            rx.text("Setup key", size="1", color=styles.muted_text_color),
            rx.code(MfaSetupState.secret, id="mfa-secret", size="3", word_break="break-all", variant="ghost"),
            spacing="1",
            width="100%",
        ),
        rx.text("2. Enter the 6-digit code the app shows.", size="2"),
        _code_form(MfaSetupState.error, code_input(), "Turn on MFA", MfaSetupState.confirm),
        spacing="4",
        width="100%",
    )


def _recovery_codes() -> rx.Component:
    return rx.vstack(
        rx.callout("MFA is on. Save these recovery codes now: each works once if you lose your phone, and they "
                   "are not shown again.", icon="shield-check", color_scheme="green", width="100%"),
        rx.grid(
            rx.foreach(MfaSetupState.recovery_codes,
                       lambda c: rx.code(c, size="3", variant="soft", text_align="center")),
            columns="2",
            spacing="2",
            width="100%",
            id="recovery-codes",
        ),
        rx.button("I have saved my recovery codes", size="3", width="100%", on_click=MfaSetupState.finish,
                  id="recovery-done"),
        spacing="4",
        width="100%",
    )


@public_page(route="/mfa/setup", title="Set up MFA", on_load=MfaSetupState.load)
def mfa_setup() -> rx.Component:
    return _mfa_page(
        "Set up two-factor authentication",
        "Administrators confirm every sign-in with an authenticator app.",
        rx.cond(MfaSetupState.recovery_codes.length() > 0, _recovery_codes(), _enrol()),
    )


@public_page(route="/mfa/verify", title="Verify sign-in", on_load=MfaVerifyState.load)
def mfa_verify() -> rx.Component:
    return _mfa_page(
        "Two-factor verification",
        "Enter the 6-digit code from your authenticator app, or one of your recovery codes.",
        _code_form(MfaVerifyState.error, code_input(placeholder="123 456 or abcde-12345"), "Verify",
                   MfaVerifyState.verify),
    )
