"""The frame of every sign-in step: brand panel (wide screens) beside a centred card."""

import reflex as rx

from admin_panel.ui import styles
from admin_panel.ui.brand_panel import brand_panel
from admin_panel.ui.logo import logo_mark


def auth_layout(card: rx.Component) -> rx.Component:
    return rx.flex(
        brand_panel(),
        rx.flex(
            rx.color_mode.button(position="top-right", id="color-mode-toggle"),
            card,
            flex="1",
            align="center",
            justify="center",
            padding=rx.breakpoints(initial="1.5rem", sm="3rem"),
            background_color=styles.auth_page_background,
        ),
        min_height="100vh",
        width="100%",
    )


def auth_card(title: str, subtitle: str, *children: rx.Component, icon: str | None = None) -> rx.Component:
    """A card like the sign-in card: mark, heading, one line of help, then the content."""
    return rx.box(
        rx.vstack(
            logo_mark(size="48px") if icon is None else rx.flex(
                rx.icon(icon, size=22), width="48px", height="48px", color="white",
                background_color="var(--accent-9)", style=styles.logo_mark_style),
            rx.heading(title, as_="h1", size="7", weight="bold", letter_spacing="-0.02em", text_align="center"),
            rx.text(subtitle, size="2", color=styles.muted_text_color, text_align="center"),
            spacing="2",
            align="center",
            width="100%",
            padding_bottom="1.5rem",
        ),
        *children,
        style=styles.auth_card_style,
    )


def form_field(label: str, for_id: str, control: rx.Component, aside: rx.Component | None = None) -> rx.Component:
    header = rx.hstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=for_id),
        rx.spacer(),
        aside or rx.fragment(),
        width="100%",
        align="center",
    )
    return rx.vstack(header, control, spacing="2", width="100%")


def icon_input(name: str, icon: str, **props) -> rx.Component:
    """A large input with an icon at its start; `name` is also its id."""
    return rx.input(rx.input.slot(rx.icon(icon, size=16)), id=name, name=name, size="3", width="100%", **props)


def new_password_field(name: str, label: str) -> rx.Component:
    """A labelled field for choosing a password (the browser may suggest one)."""
    return form_field(label, name, icon_input(name, "lock", type="password", required=True,
                                              auto_complete="new-password"))


def error_callout(message) -> rx.Component:
    """An inline error, shown only when `message` (a state var) is not empty."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", size="1", width="100%",
                   id="form-error"),
    )


def code_input(name: str = "code", placeholder: str = "123 456", auto_complete: str = "one-time-code") -> rx.Component:
    return rx.input(
        rx.input.slot(rx.icon("key-round", size=16)),
        id=name,
        name=name,
        placeholder=placeholder,
        auto_complete=auto_complete,
        input_mode="text",
        required=True,
        max_length=20,
        size="3",
        width="100%",
        letter_spacing="0.1em",
    )


def back_to_sign_in() -> rx.Component:
    return rx.link(rx.hstack(rx.icon("arrow-left", size=14), rx.text("Back to sign in", size="2"),
                             align="center", spacing="1"), href="/login", color=styles.accent_text_color)
