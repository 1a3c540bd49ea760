"""`/me`: the member's own allocation."""

import reflex as rx

from admin_panel.features.member.state import MemberState
from admin_panel.shell.app_header import app_header, card, page_frame
from admin_panel.shell.registry import public_page
from admin_panel.ui import styles
from admin_panel.ui.widgets import table_header


def _stat(label: str, value, icon: str, stat_id: str, note=None) -> rx.Component:
    return card(
        rx.hstack(
            rx.vstack(
                rx.text(label, size="2", color=styles.muted_text_color),
                rx.heading(value, size="6", weight="bold", id=stat_id, white_space="nowrap"),
                *([rx.cond(note != "", rx.text(note, size="1", color=styles.muted_text_color, id=f"{stat_id}-note"))]
                  if note is not None else []),
                spacing="1",
            ),
            rx.spacer(),
            rx.icon(icon, size=20, color=styles.accent_text_color, flex_shrink="0"),
            align="start",
            width="100%",
        ),
    )


@public_page(route="/me", title="My account", on_load=MemberState.load)
def member_page() -> rx.Component:
    header = app_header(
        rx.link("Request an Enterprise Account", href="/enterprise/request", size="2", weight="medium",
                id="enterprise-link"),
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
                _stat("Remaining", MemberState.remaining, "battery-medium", "stat-remaining", note=MemberState.held),
                _stat("Resets on", MemberState.resets_on, "calendar", "stat-resets"),
                _stat("Runs out (at this pace)", MemberState.run_out, "timer", "stat-run-out"),
                _stat("Training tokens", MemberState.training_used + " / " + MemberState.training_allocation,
                      "database", "stat-training"),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
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
            _request_form(),
            _my_requests(),
            spacing="4",
            width="100%",
        ),
    )


def _request_form() -> rx.Component:
    return card(
        rx.form(
            rx.vstack(
                rx.heading("Request more tokens", size="4", as_="h2"),
                rx.hstack(
                    rx.input(name="amount", placeholder="Amount, e.g. 250000", input_mode="numeric",
                             max_length=24, id="request-amount", width="100%"),
                    rx.select(["tokens", "training"], value=MemberState.req_kind,
                              on_change=MemberState.set_req_kind, id="request-kind"),
                    width="100%", spacing="3",
                ),
                rx.text_area(name="reason", placeholder="Why do you need them? (up to 500 characters)",
                             max_length=500, id="request-reason", width="100%"),
                rx.cond(MemberState.req_error != "", rx.text(MemberState.req_error, color_scheme="red", size="2",
                                                             role="alert", id="request-error")),
                rx.cond(MemberState.req_notice != "", rx.text(MemberState.req_notice, color_scheme="green",
                                                              size="2", id="request-notice")),
                rx.button("Send request", type="submit", id="request-submit"),
                spacing="3", width="100%",
            ),
            on_submit=MemberState.submit_request,
            reset_on_submit=True,
            width="100%",
        ),
    )


def _my_requests() -> rx.Component:
    return card(
        rx.vstack(
            rx.heading("My requests", size="4", as_="h2"),
            rx.cond(
                MemberState.my_requests.length() > 0,
                rx.table.root(
                    table_header("Date", "Amount", "Kind", "Reason", "Status", "Note"),
                    rx.table.body(rx.foreach(MemberState.my_requests, lambda r: rx.table.row(
                        rx.table.cell(r["date"]), rx.table.cell(r["amount"]), rx.table.cell(r["kind"]),
                        rx.table.cell(r["reason"]), rx.table.cell(r["status"]), rx.table.cell(r["note"])))),
                    width="100%", id="my-requests",
                ),
                rx.text("No requests yet.", color=styles.muted_text_color, size="2"),
            ),
            spacing="3", width="100%",
        ),
    )
