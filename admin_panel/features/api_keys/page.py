"""Management → API Keys: the gateway's keys, the org webhook and its recent deliveries."""

import reflex as rx

from admin_panel.features.api_keys.state import ApiKeysState as S
from admin_panel.shell import admin_page
from admin_panel.ui.widgets import confirm_dialog, dialog_buttons, table_header


def _copy_box(value, label: str) -> rx.Component:
    return rx.vstack(
        rx.callout(f"Copy the {label} now: it is shown only once and cannot be recovered.", icon="triangle-alert",
                   color_scheme="amber", size="1"),
        rx.hstack(
            rx.code(value, size="2", style={"word_break": "break-all"}, id=f"{label.replace(' ', '-')}-value"),
            rx.button(rx.icon("copy", size=14), "Copy", size="1", variant="soft",
                      on_click=[rx.set_clipboard(value), rx.toast.success("Copied")]),
            align="center", width="100%",
        ),
        width="100%",
    )


def _create_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("plus", size=16), "Create API key", id="create-key")),
        rx.dialog.content(
            rx.dialog.title("Create API key"),
            rx.cond(
                S.new_secret != "",
                rx.vstack(_copy_box(S.new_secret, "API key"),
                          rx.dialog.close(rx.button("Done", on_click=S.set_create_open(False))), width="100%"),
                rx.form(
                    rx.vstack(
                        rx.text("A name that tells where the key is used (e.g. “LiteLLM production”).", size="2"),
                        rx.input(name="name", placeholder="Key name", max_length=100, width="100%", id="key-name"),
                        rx.cond(S.error != "", rx.text(S.error, color_scheme="red", size="2", role="alert")),
                        dialog_buttons("Create", "create-key-submit"),
                        width="100%",
                    ),
                    on_submit=S.create, reset_on_submit=True,
                ),
            ),
            max_width="520px",
        ),
        open=S.create_open,
        on_open_change=S.set_create_open,
    )


def _revoke_dialog() -> rx.Component:
    return confirm_dialog(
        "Revoke API key?",
        rx.text("Requests with “", S.revoke_name, "” will be refused (403) at once. This cannot be undone."),
        on_cancel=S.cancel_revoke,
        confirm=rx.button("Revoke", color_scheme="red", on_click=S.confirm_revoke, id="confirm-revoke"),
        open=S.revoke_open,
    )


def _key_row(k) -> rx.Component:
    return rx.table.row(
        rx.table.cell(k["name"]), rx.table.cell(rx.code(k["prefix"])), rx.table.cell(k["created_by"]),
        rx.table.cell(k["created"]), rx.table.cell(k["last_used"]),
        rx.table.cell(rx.cond(k["active"] == "1",
                              rx.button("Revoke", size="1", color_scheme="red", variant="soft",
                                        on_click=S.ask_revoke(k["id"])),
                              rx.badge("Revoked " + k["revoked"], color_scheme="gray"))),
    )


def _keys_table() -> rx.Component:
    return rx.table.root(
        table_header("Name", "Prefix", "Created by", "Created", "Last used", ""),
        rx.table.body(rx.foreach(S.keys, _key_row)),
        width="100%", variant="surface",
    )


def _delivery_row(d) -> rx.Component:
    colour = rx.match(d["status"], ("delivered", "green"), ("failed", "red"), "amber")
    return rx.table.row(
        rx.table.cell(d["created"]), rx.table.cell(d["event"]),
        rx.table.cell(rx.badge(d["status"], color_scheme=colour)), rx.table.cell(d["attempts"]),
        rx.table.cell(d["code"]), rx.table.cell(d["error"]), rx.table.cell(d["next"]),
    )


def _webhook_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Webhook", size="4"),
            rx.text("Threshold notices (80/90/100 % of a user's cap or of the pool) are POSTed here as JSON, signed "
                    "with X-Steward-Signature: sha256=HMAC(secret, \"<timestamp>.<body>\").", size="2",
                    color_scheme="gray"),
            rx.form(
                rx.hstack(
                    rx.input(name="url", placeholder="https://example.com/steward-hook", default_value=S.webhook_url,
                             key=S.webhook_url, max_length=500, flex="1", id="webhook-url"),
                    rx.checkbox("Enabled", name="enabled", default_checked=S.webhook_enabled),
                    rx.button("Save", type="submit"),
                    width="100%", align="center",
                ),
                on_submit=S.save_webhook,
            ),
            rx.cond(S.has_webhook, rx.hstack(
                rx.button("Rotate secret", size="1", variant="soft", on_click=S.rotate_webhook_secret),
                rx.button("Remove webhook", size="1", variant="soft", color_scheme="red", on_click=S.remove_webhook),
            )),
            rx.cond(S.webhook_secret != "", rx.vstack(_copy_box(S.webhook_secret, "signing secret"),
                                                       rx.button("Done", size="1", on_click=S.dismiss_secret))),
            rx.heading("Recent deliveries", size="3", margin_top="0.5rem"),
            rx.cond(S.deliveries.length() > 0, rx.table.root(
                table_header("Created", "Event", "Status", "Attempts", "HTTP", "Error", "Next attempt"),
                rx.table.body(rx.foreach(S.deliveries, _delivery_row)), width="100%", size="1",
            ), rx.text("No deliveries yet.", size="2", color_scheme="gray")),
            width="100%",
        ),
        width="100%",
    )


@admin_page(nav_key="api_keys", on_load=S.load)
def api_keys_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.text("Keys let your GenAI gateway report usage and ask before spending (REST API under "
                          "/api/v1, schema at /api/v1/openapi.json).", size="2", color_scheme="gray"),
                  rx.spacer(), _create_dialog(), width="100%", align="center"),
        rx.cond(S.message != "", rx.callout(S.message, icon="check", color_scheme="green", size="1")),
        rx.cond((S.error != "") & ~S.create_open, rx.callout(S.error, icon="circle-alert", color_scheme="red",
                                                             size="1")),
        rx.cond(S.keys.length() > 0, _keys_table(), rx.text("No API keys yet.", color_scheme="gray")),
        _revoke_dialog(),
        _webhook_card(),
        spacing="4", width="100%",
    )
