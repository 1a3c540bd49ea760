"""Management → Organizations (super admins): organizations with their pool, and enterprise requests."""

import reflex as rx

from admin_panel.features.orgs.org_edit import edit_dialog
from admin_panel.features.orgs.org_edit_state import OrgEditState
from admin_panel.features.orgs.state import OrgsState
from admin_panel.features.orgs.unassigned import unassigned_tab
from admin_panel.features.orgs.unassigned_state import UnassignedState
from admin_panel.shell import admin_page
from admin_panel.ui import styles
from admin_panel.ui.widgets import form_dialog, table_header
from services.orgs.org_listing import PAGE

STATUS_COLORS = {"pending": "amber", "awaiting_payment": "blue", "activated": "green", "rejected": "red"}


def _status_badge(status, label) -> rx.Component:
    return rx.match(status, *[(k, rx.badge(label, color_scheme=c)) for k, c in STATUS_COLORS.items()],
                    rx.badge(label))


def _field(label: str, name: str, **props) -> rx.Component:
    return rx.vstack(rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
                     rx.input(id=name, name=name, width="100%", **props), spacing="1", width="100%")


def _error(text) -> rx.Component:
    return rx.cond(text != "", rx.callout(text, icon="triangle-alert", color_scheme="red", width="100%",
                                          role="alert", class_name="dialog-error"))


def create_dialog() -> rx.Component:
    return form_dialog(
        "New organization",
        _error(OrgsState.create_error),
        _field("Name", "name", required=True, max_length=200),
        _field("Billing address", "billing_address", max_length=500),
        _field("Contact e-mail", "email", type="email"),
        _field("E-mail domain", "email_domain", placeholder="example.com"),
        submit="Create", submit_id="create-org-submit", on_submit=OrgsState.create_org,
        open=OrgsState.create_open, on_open_change=OrgsState.set_create_open,
        trigger=rx.button(rx.icon("plus", size=16), "New organization", id="new-org"),
    )


def purchase_dialog() -> rx.Component:
    return form_dialog(
        "Record a purchase",
        _error(OrgsState.purchase_error),
        rx.text("Tokens are sold in multiples of 2,000,000.", size="1", color=styles.muted_text_color),
        _field("Tokens", "tokens", input_mode="numeric", placeholder="2,000,000"),
        _field("Training tokens", "training_tokens", input_mode="numeric", placeholder="0"),
        _field("Payer e-mail", "payer_email", type="email"),
        _field("Expires on", "expires_at", type="date"),
        _field("Comment", "comment", max_length=1000),
        submit="Record purchase", submit_id="purchase-submit", on_submit=OrgsState.record_purchase,
        open=OrgsState.purchase_open, on_open_change=OrgsState.set_purchase_open,
        head=(rx.dialog.description(OrgsState.purchase_org, size="2", margin_bottom="0.75rem"),),
    )


def orgs_tab() -> rx.Component:
    head = table_header("Organization", "Domain", "Users", "Purchased", "Assigned", "Purchased (training)",
                        "Assigned (training)", "Closest expiry", "")
    body = rx.table.body(rx.foreach(OrgsState.orgs, lambda o: rx.table.row(
        rx.table.cell(rx.link(o["name"], on_click=OrgEditState.work_in(o["id"]), cursor="pointer",
                              title="Work in this organization", class_name="org-name")),
        rx.table.cell(o["domain"]), rx.table.cell(o["users"]), rx.table.cell(o["pool"]),
        rx.table.cell(rx.text(o["assigned"], color=rx.cond(o["over"] == "yes", rx.color("orange", 11), None))),
        rx.table.cell(o["pool_training"]), rx.table.cell(o["assigned_training"]), rx.table.cell(o["expiry"]),
        rx.table.cell(rx.hstack(
            rx.button("Edit", size="1", variant="soft", on_click=OrgEditState.open_edit(o["id"]),
                      class_name="edit-org"),
            rx.button("Record purchase", size="1", variant="soft", white_space="nowrap",
                      on_click=OrgsState.open_purchase(o["id"])), spacing="2")),
        class_name="org-row")))
    return rx.vstack(
        rx.hstack(rx.text(OrgsState.org_total.to_string() + " organizations", color=styles.muted_text_color),
                  rx.spacer(), create_dialog(), width="100%", align="center"),
        rx.box(rx.table.root(head, body, variant="surface", width="100%"), overflow_x="auto", width="100%"),
        rx.hstack(rx.button("Previous", size="1", variant="soft", on_click=OrgsState.page(-1),
                            disabled=OrgsState.org_page == 0),
                  rx.button("Next", size="1", variant="soft", on_click=OrgsState.page(1),
                            disabled=(OrgsState.org_page + 1) * PAGE >= OrgsState.org_total), justify="end",
                  width="100%"),
        purchase_dialog(),
        edit_dialog(),
        spacing="3",
        width="100%",
    )


def requests_tab() -> rx.Component:
    head = table_header("#", "Organization", "Requested by", "Users", "Tokens", "Sent", "Status", "")
    body = rx.table.body(rx.foreach(OrgsState.requests, lambda r: rx.table.row(
        rx.table.cell(r["id"]), rx.table.cell(r["org_name"]), rx.table.cell(r["requester"]),
        rx.table.cell(r["users"]), rx.table.cell(r["tokens"]), rx.table.cell(r["created"]),
        rx.table.cell(_status_badge(r["status"], r["status_label"])),
        rx.table.cell(rx.button("Review", size="1", on_click=OrgsState.open_review(r["id"]),
                                class_name="review-request")),
        class_name="request-row")))
    return rx.cond(
        OrgsState.requests.length() > 0,
        rx.box(rx.table.root(head, body, variant="surface", width="100%"), overflow_x="auto", width="100%"),
        rx.text("No open requests.", color=styles.muted_text_color, id="no-requests"),
    )


def _kv(label: str, value) -> rx.Component:
    return rx.hstack(rx.text(label, size="2", color=styles.muted_text_color, min_width="140px"),
                     rx.text(value, size="2", white_space="pre-wrap"), align="start", width="100%")


def _emails(title: str, items) -> rx.Component:
    return rx.vstack(rx.text(title, size="2", weight="medium"),
                     rx.box(rx.foreach(items, lambda e: rx.text(e, size="1", font_family="monospace")),
                            max_height="140px", overflow_y="auto", width="100%"),
                     spacing="1", width="100%")


def review_dialog() -> rx.Component:
    open_status = (OrgsState.review["status"] == "pending") | (OrgsState.review["status"] == "awaiting_payment")
    checks = rx.cond(
        OrgsState.review_ok,
        rx.callout("Every rule passes now.", icon="circle-check", color_scheme="green", id="review-ok"),
        rx.callout(rx.vstack(rx.foreach(OrgsState.review_messages,
                                        lambda m: rx.text(rx.text.strong(m["field"] + ": "), m["message"],
                                                          size="2"))),
                   icon="triangle-alert", color_scheme="amber", id="review-problems"),
    )
    decisions = rx.cond(
        OrgsState.confirm_action == "",
        rx.vstack(
            rx.text_area(placeholder="Reason (required to reject)", value=OrgsState.reason,
                         on_change=OrgsState.set_reason, id="reject-reason", width="100%", max_length=500),
            rx.hstack(
                rx.button("Reject", color_scheme="red", variant="soft", on_click=OrgsState.ask("reject"),
                          id="ask-reject"),
                rx.cond(OrgsState.review["status"] == "pending",
                        rx.button("Mark awaiting payment", variant="soft", on_click=OrgsState.ask("awaiting"),
                                  id="ask-awaiting")),
                rx.button("Activate", color_scheme="green", on_click=OrgsState.ask("activate"),
                          disabled=~OrgsState.review_ok, id="ask-activate"),
                justify="end", width="100%", wrap="wrap",
            ),
            width="100%",
        ),
        rx.callout(
            rx.vstack(
                rx.text(rx.text.strong(OrgsState.confirm_label), " the request for ", OrgsState.review["org_name"],
                        "?", rx.cond(OrgsState.confirm_action == "activate",
                                     " This creates the organization, moves the users into it, makes the admins "
                                     "admins and records the purchase.", "")),
                rx.hstack(rx.button("Cancel", variant="soft", color_scheme="gray", on_click=OrgsState.cancel_confirm),
                          rx.button("Yes, " + OrgsState.confirm_label.lower(), on_click=OrgsState.confirm,
                                    id="confirm-decision"),
                          justify="end", width="100%"),
                width="100%",
            ),
            icon="circle-help", color_scheme="gray", width="100%", id="confirm-box",
        ),
    )
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Request #" + OrgsState.review["id"] + ": " + OrgsState.review["org_name"]),
            rx.vstack(
                _status_badge(OrgsState.review["status"], OrgsState.review["status_label"]),
                _kv("Requested by", OrgsState.review["requester"]),
                _kv("Sent", OrgsState.review["created"]),
                _kv("Billing address", OrgsState.review["billing_address"]),
                _kv("Tokens", OrgsState.review["tokens"]),
                _kv("Training tokens", OrgsState.review["training_tokens"]),
                _kv("Notes", OrgsState.review["notes"]),
                rx.grid(_emails("Users", OrgsState.review_users), _emails("Admins", OrgsState.review_admins),
                        columns="2", spacing="3", width="100%"),
                rx.cond(open_status, checks),
                _error(OrgsState.review_error),
                rx.cond(open_status, decisions),
                rx.hstack(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")), justify="end",
                          width="100%"),
                spacing="3",
                width="100%",
            ),
            max_width="720px",
        ),
        open=OrgsState.review_open,
        on_open_change=OrgsState.set_review_open,
    )


@admin_page(nav_key="orgs", on_load=[OrgsState.load, UnassignedState.load], all_orgs=True)
def organizations_page() -> rx.Component:
    return rx.vstack(
        rx.cond(OrgsState.error != "", rx.callout(OrgsState.error, icon="triangle-alert", color_scheme="red",
                                                  width="100%")),
        rx.cond(OrgsState.notice != "", rx.callout(OrgsState.notice, icon="circle-check", color_scheme="green",
                                                   width="100%", id="orgs-notice")),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Organizations", value="orgs", id="tab-orgs"),
                rx.tabs.trigger(rx.hstack(rx.text("Requests"),
                                          rx.cond(OrgsState.open_count > 0,
                                                  rx.badge(OrgsState.open_count, color_scheme="amber",
                                                           variant="solid", radius="full", id="requests-badge")),
                                          align="center", spacing="2"),
                                value="requests", id="tab-requests"),
                rx.tabs.trigger(rx.hstack(rx.text("Unassigned users"),
                                          rx.cond(UnassignedState.count > 0,
                                                  rx.badge(UnassignedState.count, variant="soft", radius="full",
                                                           id="unassigned-badge")),
                                          align="center", spacing="2"),
                                value="unassigned", id="tab-unassigned"),
            ),
            rx.tabs.content(orgs_tab(), value="orgs", padding_top="1rem"),
            rx.tabs.content(requests_tab(), value="requests", padding_top="1rem"),
            rx.tabs.content(unassigned_tab(), value="unassigned", padding_top="1rem"),
            value=OrgsState.tab,
            on_change=OrgsState.set_tab,
            width="100%",
        ),
        review_dialog(),
        spacing="4",
        width="100%",
    )
