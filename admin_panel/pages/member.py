"""`/me`: the member's own allocation."""

import reflex as rx

from .. import styles
from ..components.app_header import app_header, card, page_frame
from ..state.member import MemberState

ROUTE, TITLE = "/me", "My account · Steward"


def _stat(label: str, value, icon: str, stat_id: str) -> rx.Component:
    return card(
        rx.hstack(
            rx.vstack(
                rx.text(label, size="2", color=styles.muted_text_color),
                rx.heading(value, size="6", weight="bold", id=stat_id, white_space="nowrap"),
                spacing="1",
            ),
            rx.spacer(),
            rx.icon(icon, size=20, color=styles.accent_text_color, flex_shrink="0"),
            align="start",
            width="100%",
        ),
    )


def member_page() -> rx.Component:
    header = app_header(
        rx.cond(MemberState.is_admin, rx.link("Admin Panel", href="/admin", size="2", weight="medium")),
        rx.text(MemberState.email, size="2", color=styles.muted_text_color,
                display=rx.breakpoints(initial="none", sm="block")),
    )
    return page_frame(
        header,
        rx.vstack(
            rx.heading(rx.cond(MemberState.name != "", "Hello, " + MemberState.name, "My account"), size="7",
                       as_="h1", id="member-heading"),
            rx.text("Your token allocation this month.", color=styles.muted_text_color),
            rx.cond(MemberState.error != "", rx.callout(MemberState.error, icon="triangle-alert",
                                                        color_scheme="red", width="100%")),
            rx.cond(MemberState.notice != "", rx.callout(MemberState.notice, icon="info", color_scheme="amber",
                                                         width="100%")),
            rx.grid(
                _stat("My allocation", MemberState.allocation, "wallet", "stat-allocation"),
                _stat("Used this month", MemberState.used, "activity", "stat-used"),
                _stat("Remaining", MemberState.remaining, "battery-medium", "stat-remaining"),
                _stat("Resets on", MemberState.resets_on, "calendar", "stat-resets"),
                columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                spacing="4",
                width="100%",
            ),
            card(
                rx.vstack(
                    rx.hstack(rx.text("Used of my allocation", size="2", weight="medium"), rx.spacer(),
                              rx.text(MemberState.used_percent.to_string() + "%", size="2"), width="100%"),
                    rx.progress(value=MemberState.used_percent, max=100, width="100%"),
                    spacing="2",
                    width="100%",
                ),
            ),
            spacing="4",
            width="100%",
        ),
    )
