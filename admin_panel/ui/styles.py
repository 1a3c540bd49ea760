"""Design tokens: colours, sizes and shared style dicts (after the reflex-dev/templates dashboard).

Only Radix colour steps (`rx.color(...)`, `var(--accent-9)`) are used so that light and dark mode
both follow the theme. No web fonts: the machines running Steward may be offline.
"""

import reflex as rx

# Theme (used by rxconfig.py through RadixThemesPlugin).
ACCENT = "indigo"
GRAY = "slate"
RADIUS = "large"


def theme() -> rx.Component:
    """The app-wide Radix theme; `appearance="inherit"` follows the colour-mode toggle."""
    return rx.theme(
        appearance="inherit",
        accent_color=ACCENT,
        gray_color=GRAY,
        radius=RADIUS,
        has_background=True,
    )


FONT_FAMILY = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'
)
border_radius = "var(--radius-4)"
border = f"1px solid {rx.color('gray', 5)}"
text_color = rx.color("gray", 12)
muted_text_color = rx.color("gray", 11)
accent_text_color = rx.color("accent", 11)
accent_bg_color = rx.color("accent", 3)
box_shadow = "0 1px 3px 0 rgb(0 0 0 / 0.08), 0 8px 24px -6px rgb(0 0 0 / 0.12)"

# Auth pages: the brand panel shows from the `md` breakpoint (992 px) up; the form is always shown.
auth_form_width = "400px"
brand_panel_display = rx.breakpoints(initial="none", md="flex")
brand_panel_style = {
    "display": brand_panel_display,
    "flex_direction": "column",
    "justify_content": "space-between",
    "width": "46%",
    "max_width": "680px",
    "padding": "3rem",
    "color": "white",
    # Step 9 is the same in light and dark mode; mixing it with black keeps white text readable in both.
    "background": "linear-gradient(150deg, var(--accent-9) 0%, color-mix(in srgb, var(--accent-9) 60%, black) 100%)",
}
auth_card_style = {
    "width": "100%",
    "max_width": auth_form_width,
    "padding": "2rem",
    "border": border,
    "border_radius": border_radius,
    "box_shadow": box_shadow,
    "background_color": "var(--color-panel-solid)",
}
auth_page_background = rx.color("gray", 2)
logo_mark_style = {
    "align_items": "center",
    "justify_content": "center",
    "border_radius": "var(--radius-3)",
}

base_style = {
    "font_family": FONT_FAMILY,
}

# Native <select> in filter forms (uncontrolled, submitted with the form): the height and type size of a Radix
# input of size 2, so that a row of filters lines up.
native_select_style = {"padding": "0 0.5rem", "height": "var(--space-6)", "font_size": "var(--font-size-2)",
                       "border_radius": "var(--radius-2)", "border": border, "background": "var(--color-surface)",
                       "color": "var(--gray-12)"}

