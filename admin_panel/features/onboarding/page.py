"""`/enterprise/request`: Request an Enterprise Account (any signed-in user)."""

import reflex as rx

from admin_panel.features.onboarding.state import EnterpriseRequestState as S
from admin_panel.shell.app_header import app_header, card, page_frame
from admin_panel.shell.registry import public_page
from admin_panel.ui import styles
from admin_panel.ui.widgets import table_header
from services.core import settings

DEBOUNCE_MS = 400
STATUS_COLORS = {"pending": "amber", "awaiting_payment": "blue", "activated": "green", "rejected": "red"}


def _message(name: str) -> rx.Component:
    return rx.cond(S.messages[name] != "",
                   rx.text(S.messages[name], size="1", color=rx.color("red", 11), id=f"msg-{name}", role="alert"))


def _input(label: str, name: str, help_text: str = "", area: bool = False, **props) -> rx.Component:
    common = dict(id=name, value=getattr(S, name), on_change=lambda v: S.edit(name, v),
                  debounce_timeout=DEBOUNCE_MS, width="100%", **props)
    control = rx.text_area(rows="4", **common) if area else rx.input(**common)
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
        control,
        rx.text(help_text, size="1", color=styles.muted_text_color) if help_text else rx.fragment(),
        _message(name),
        spacing="1",
        width="100%",
    )


def _invitations() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.unregistered.length() > 0,
            rx.callout(
                rx.vstack(
                    rx.text("These people have no account yet: ", rx.text.strong(S.unregistered.join(", "))),
                    rx.button(rx.icon("send", size=14), "Invite them to register", size="2", on_click=S.invite,
                              id="invite-unregistered"),
                    spacing="2",
                ),
                icon="user-plus", color_scheme="amber", width="100%",
            ),
        ),
        rx.foreach(S.invites, lambda i: rx.hstack(
            rx.text(i["email"], size="2", weight="medium", min_width="180px"),
            rx.cond(i["link"] != "",
                    rx.hstack(rx.code(i["link"], size="1", class_name="invite-link", word_break="break-all"),
                              rx.button(rx.icon("copy", size=12), "Copy", size="1", variant="soft",
                                        on_click=rx.set_clipboard(i["link"])), align="center", spacing="2"),
                    rx.badge(i["status"])),
            align="center", width="100%", class_name="invite-row")),
        width="100%",
        spacing="2",
    )


def request_form() -> rx.Component:
    rules = (f"At least {settings.MIN_USERS} users and {settings.MIN_ADMINS} admin, every one with a Steward account; "
             f"at least {settings.MIN_TOKENS_PER_USER:,} tokens per user, bought in multiples of "
             f"{settings.PURCHASE_MULTIPLE:,}.")
    return card(rx.vstack(
        rx.heading("New request", size="4"),
        rx.text(rules, size="2", color=styles.muted_text_color),
        _input("Organization name", "org_name", max_length=200),
        _input("Billing address", "billing_address", area=True, max_length=500),
        _input("E-mails of all users", "user_emails", "One per line, or separated by commas. Include the admins.",
               area=True),
        _invitations(),
        _input("E-mails of the admins", "admin_emails", "Admins set up two-factor authentication on first use.",
               area=True),
        rx.grid(_input("Requested tokens", "tokens", input_mode="numeric", placeholder="2,000,000"),
                _input("Training tokens", "training_tokens", input_mode="numeric", placeholder="0"),
                columns=rx.breakpoints(initial="1", sm="2"), spacing="3", width="100%"),
        _input("Additional information", "notes", area=True, max_length=2000),
        rx.hstack(
            rx.cond(S.valid, rx.badge(rx.icon("circle-check", size=12), "All rules pass", color_scheme="green",
                                      id="form-valid")),
            rx.spacer(),
            rx.button("Send request", on_click=S.submit, disabled=~S.valid, id="send-request", size="3"),
            width="100%", align="center",
        ),
        spacing="4",
        width="100%",
    ))


def my_requests() -> rx.Component:
    row = lambda r: rx.table.row(  # noqa: E731
        rx.table.cell(r["id"]), rx.table.cell(r["org_name"]), rx.table.cell(r["users"]),
        rx.table.cell(r["tokens"]), rx.table.cell(r["created"]),
        rx.table.cell(rx.match(r["status"], *[(k, rx.badge(r["status_label"], color_scheme=c))
                                             for k, c in STATUS_COLORS.items()], rx.badge(r["status_label"]),
                               ), rx.cond(r["reason"] != "", rx.text(r["reason"], size="1"))),
        class_name="my-request")
    return card(rx.vstack(
        rx.heading("My requests", size="4"),
        rx.cond(S.requests.length() > 0,
                rx.box(rx.table.root(
                    table_header("#", "Organization", "Users", "Tokens", "Sent", "Status"),
                    rx.table.body(rx.foreach(S.requests, row)), width="100%"), overflow_x="auto", width="100%"),
                rx.text("No requests yet.", size="2", color=styles.muted_text_color)),
        rx.cond(S.notes_inbox.length() > 0, rx.vstack(
            rx.hstack(rx.heading("Notifications", size="3"), rx.spacer(),
                      rx.button("Mark all read", size="1", variant="ghost", on_click=S.mark_read), width="100%"),
            rx.foreach(S.notes_inbox, lambda n: rx.box(
                rx.text(n["title"], size="2", weight=rx.cond(n["read"] == "", "bold", "regular")),
                rx.text(n["body"], size="1", color=styles.muted_text_color), rx.text(n["when"], size="1"),
                class_name="notification", width="100%")),
            width="100%", spacing="2")),
        spacing="3",
        width="100%",
    ))


@public_page(route="/enterprise/request", title="Request an Enterprise Account", on_load=S.load)
def enterprise_request_page() -> rx.Component:
    header = app_header(rx.link("My account", href="/me", size="2", weight="medium"))
    return page_frame(
        header,
        rx.vstack(
            rx.heading("Request an Enterprise Account", size="7", as_="h1", id="enterprise-heading"),
            rx.text("An enterprise account gives your organization a shared token pool and admins who manage its "
                    "users. A Steward super admin reviews every request.", color=styles.muted_text_color),
            rx.cond(S.error != "", rx.callout(S.error, icon="triangle-alert", color_scheme="red", width="100%",
                                              id="request-error")),
            rx.cond(S.notice != "", rx.callout(S.notice, icon="circle-check", color_scheme="green", width="100%",
                                               id="request-notice")),
            my_requests(),
            request_form(),
            spacing="4",
            width="100%",
        ),
    )
