"""Management → Token Requests: tabs with counts, the queue (server-side paging), approve / deny dialogs."""

import reflex as rx

from admin_panel.features.requests.state import RequestsState as S
from admin_panel.shell import admin_page
from admin_panel.ui.widgets import pager, table_header

COLUMNS = ("User", "Amount", "Kind", "Reason", "At request", "Current", "Status", "Date", "Reviewer", "")
TAB_LABELS = (("pending", "Pending"), ("approved", "Approved"), ("denied", "Denied"), ("all", "All"))


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r["user"]), rx.table.cell(r["amount"]), rx.table.cell(r["kind"]),
        rx.table.cell(rx.text(r["reason"], size="2", max_width="280px", trim="end")),
        rx.table.cell(r["at_request"]), rx.table.cell(r["current"]), rx.table.cell(r["status"]),
        rx.table.cell(r["date"]), rx.table.cell(r["reviewer"]),
        rx.table.cell(rx.cond(r["raw_status"] == "pending", rx.hstack(
            rx.button("Approve", size="1", on_click=S.open_approve(r["id"]), id="approve-" + r["id"]),
            rx.button("Deny", size="1", variant="soft", color_scheme="red", on_click=S.open_deny(r["id"]),
                      id="deny-" + r["id"]),
            spacing="2"))),
    )


def _approve_dialog() -> rx.Component:
    return rx.dialog.root(rx.dialog.content(
        rx.dialog.title("Approve request"),
        rx.dialog.description(S.dialog_user + " asked for " + S.dialog_amount + " tokens.", size="2"),
        rx.vstack(
            rx.text("Amount to grant", size="2", weight="medium"),
            rx.input(value=S.approve_amount, on_change=S.set_approve_amount.debounce(300), id="approve-amount",
                     input_mode="numeric", width="100%"),
            rx.text("Temporary until (optional)", size="2", weight="medium"),
            rx.input(type="date", value=S.approve_expires, on_change=S.set_approve_expires, id="approve-expires",
                     width="100%"),
            rx.text_area(placeholder="Note (optional)", value=S.approve_note, on_change=S.set_approve_note,
                         max_length=500, width="100%"),
            rx.foreach(S.approve_warnings, lambda w: rx.callout(w, icon="triangle-alert", color_scheme="amber",
                                                                 size="1", width="100%")),
            rx.cond(S.dialog_error != "", rx.text(S.dialog_error, color_scheme="red", size="2", role="alert")),
            rx.hstack(
                rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.close_dialogs),
                rx.button(rx.cond(S.approve_warnings.length() > 0, "Approve anyway", "Approve"),
                          on_click=S.confirm_approve, id="approve-confirm"),
                justify="end", width="100%", spacing="3",
            ),
            spacing="3", margin_top="1rem",
        ),
        max_width="480px",
    ), open=S.approve_open, on_open_change=S.set_dialog_open)


def _deny_dialog() -> rx.Component:
    return rx.dialog.root(rx.dialog.content(
        rx.dialog.title("Deny request"),
        rx.dialog.description(S.dialog_user + " asked for " + S.dialog_amount + " tokens.", size="2"),
        rx.vstack(
            rx.text_area(placeholder="Note for the member", value=S.deny_note, on_change=S.set_deny_note,
                         max_length=500, width="100%", id="deny-note"),
            rx.cond(S.dialog_error != "", rx.text(S.dialog_error, color_scheme="red", size="2", role="alert")),
            rx.hstack(
                rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.close_dialogs),
                rx.button("Deny", color_scheme="red", on_click=S.confirm_deny, id="deny-confirm"),
                justify="end", width="100%", spacing="3",
            ),
            spacing="3", margin_top="1rem",
        ),
        max_width="480px",
    ), open=S.deny_open, on_open_change=S.set_dialog_open)


@admin_page(nav_key="requests", on_load=S.load)
def requests_page() -> rx.Component:
    return rx.vstack(
        rx.cond(S.error != "", rx.callout(S.error, icon="triangle-alert", color_scheme="red", width="100%")),
        rx.cond(S.notice != "", rx.callout(S.notice, icon="check", color_scheme="green", width="100%")),
        rx.tabs.root(
            rx.tabs.list(*[rx.tabs.trigger(label + " (" + S.counts[key].to_string() + ")", value=key,
                                           id="tab-" + key) for key, label in TAB_LABELS]),
            value=S.tab, on_change=S.set_tab,
        ),
        rx.box(rx.table.root(
            table_header(*COLUMNS),
            rx.table.body(rx.foreach(S.rows, _row)),
            width="100%", id="requests-table",
        ), overflow_x="auto", width="100%"),
        rx.cond(S.rows.length() == 0, rx.text("No requests here.", size="2")),
        pager(S.page, S.pages, S.goto,
              rx.spacer(),
              rx.select(["25", "50", "100"], value=S.page_size, on_change=S.set_page_size, size="1"),
              width="100%", align="center"),
        _approve_dialog(),
        _deny_dialog(),
        spacing="4", width="100%",
    )
