"""The Steward logo mark and word mark."""

import reflex as rx

from admin_panel.ui import styles

PRODUCT_NAME = "Steward"
TAGLINE = "Enterprise GenAI admin panel"


def logo_mark(size: str = "40px", inverted: bool = False) -> rx.Component:
    """A rounded square holding the product icon; `inverted` for use on the accent background."""
    return rx.flex(
        rx.icon("shield-check", size=22, stroke_width=2.2),
        width=size,
        height=size,
        min_width=size,
        color="var(--accent-9)" if inverted else "white",
        background_color="white" if inverted else "var(--accent-9)",
        style=styles.logo_mark_style,
    )
