"""The accent-coloured panel beside the sign-in form on wide screens."""

import reflex as rx

from admin_panel.ui import styles
from admin_panel.ui.logo import PRODUCT_NAME, TAGLINE, logo_mark

HIGHLIGHTS = [
    ("wallet", "Token budgets", "Purchases, pools and per-user allocations in one place."),
    ("chart-column", "Usage analytics", "Monthly statistics and CSV exports for chargeback."),
    ("shield-check", "Accountable administration", "MFA for every admin and a tamper-evident audit trail."),
]


def _highlight(icon: str, title: str, text: str) -> rx.Component:
    return rx.hstack(
        rx.flex(
            rx.icon(icon, size=18),
            width="36px",
            height="36px",
            min_width="36px",
            align="center",
            justify="center",
            border_radius="var(--radius-3)",
            background_color="rgb(255 255 255 / 0.16)",
        ),
        rx.vstack(
            rx.text(title, weight="bold", size="3"),
            rx.text(text, size="2", opacity="0.85"),
            spacing="1",
        ),
        spacing="3",
        align="start",
    )


def brand_panel() -> rx.Component:
    """Product name, tagline and highlights on the accent gradient."""
    return rx.box(
        rx.hstack(
            logo_mark(inverted=True),
            rx.text(PRODUCT_NAME, size="5", weight="bold"),
            align="center",
            spacing="3",
        ),
        rx.vstack(
            rx.text(TAGLINE.upper(), size="1", weight="bold", letter_spacing="0.08em", opacity="0.8"),
            rx.heading(
                "Govern how your organization uses GenAI.",
                size="8",
                weight="bold",
                line_height="1.15",
                max_width="30rem",
            ),
            rx.vstack(*[_highlight(*item) for item in HIGHLIGHTS], spacing="5", padding_top="1.5rem"),
            spacing="4",
        ),
        rx.text("Steward · governance for enterprise GenAI accounts", size="2", opacity="0.75"),
        style=styles.brand_panel_style,
    )
