"""API Keys page: list, create (key shown once), revoke (confirmation), the org webhook and its deliveries.
Creating/revoking keys and changing the webhook need step-up MFA (the shell's dialog, then a retry handler
that redoes the action from server-side `_pending` values)."""

from typing import ClassVar

import reflex as rx

from admin_panel.runtime.guard import AdminArea
from admin_panel.shell.handler import as_actor
from admin_panel.ui import formatting as fmt
from services.core import webhooks
from services.core.permissions import MANAGE
from services.gateway import api_keys

MAX_NAME = 100


_when = fmt.moment


def _key_row(k) -> dict[str, str]:
    return {"id": str(k.id), "name": k.name, "prefix": k.prefix + "…", "created_by": k.created_by or "—",
            "created": _when(k.created_at), "last_used": _when(k.last_used_at) if k.last_used_at else "never",
            "revoked": _when(k.revoked_at), "active": "" if k.revoked_at else "1"}


def _delivery_row(d: dict) -> dict[str, str]:
    return {"id": str(d["id"]), "event": d["event"], "status": d["status"], "attempts": str(d["attempts"]),
            "code": str(d["last_status"] or ""), "error": d["last_error"], "created": _when(d["created_at"]),
            "next": _when(d["next_attempt_at"]) if d["status"] == "pending" else ""}


class ApiKeysState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = MANAGE

    keys: list[dict[str, str]] = []
    deliveries: list[dict[str, str]] = []
    webhook_url: str = ""
    webhook_enabled: bool = True
    has_webhook: bool = False
    error: str = ""
    message: str = ""
    create_open: bool = False
    new_secret: str = ""  # the key just created: shown once, cleared when the dialog closes
    webhook_secret: str = ""  # a new signing secret: shown once
    revoke_open: bool = False
    revoke_name: str = ""
    _revoke_id: int = 0
    _pending_name: str = ""
    _pending_webhook: dict = {}

    @rx.event
    async def load(self):
        def read(db, actor):
            return (api_keys.list_keys(db, actor=actor), webhooks.get_webhook(db, actor=actor),
                    webhooks.list_deliveries(db, actor=actor))

        got = await as_actor(self, read, read=True)
        if not got:
            return got.reply
        keys, hook, deliveries = got.value
        self.keys = [_key_row(k) for k in keys]
        self.deliveries = [_delivery_row(d) for d in deliveries]
        self.has_webhook = hook is not None
        self.webhook_url = hook["url"] if hook else ""
        self.webhook_enabled = hook["enabled"] if hook else True
        self.error = ""
        return None

    # ------------------------------------------------------------------------------------------- create
    @rx.event
    def set_create_open(self, value: bool):
        self.create_open = value is True
        if not self.create_open:
            self.new_secret = ""
        self.error = ""

    @rx.event
    async def create(self, form_data: dict):
        name = form_data.get("name") if isinstance(form_data, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            self.error = f"Enter a name of 1–{MAX_NAME} characters."
            return None
        self._pending_name = name.strip()
        return await self._create()

    @rx.event
    async def create_retry(self):
        if self._pending_name:
            return await self._create()
        return None

    async def _create(self):
        name = self._pending_name
        got = await as_actor(self, lambda db, actor: api_keys.create_key(db, actor=actor, name=name),
                             retry=ApiKeysState.create_retry)
        if not got:
            return got.reply
        new = got.value
        self._pending_name = ""
        self.new_secret, self.create_open, self.error = new.secret, True, ""
        self.message = f"API key “{new.view.name}” created."
        return ApiKeysState.load

    # ------------------------------------------------------------------------------------------- revoke
    @rx.event
    def ask_revoke(self, key_id: str):
        row = next((k for k in self.keys if isinstance(key_id, str) and k["id"] == key_id and k["active"]), None)
        if row is None:
            self.error = "API key not found."
            return
        self._revoke_id, self.revoke_name, self.revoke_open = int(row["id"]), row["name"], True

    @rx.event
    def cancel_revoke(self):
        self._revoke_id, self.revoke_name, self.revoke_open = 0, "", False

    @rx.event
    async def confirm_revoke(self):
        key_id = self._revoke_id
        if not key_id:
            return None
        got = await as_actor(self, lambda db, actor: api_keys.revoke_key(db, actor=actor, key_id=key_id),
                             retry=ApiKeysState.confirm_revoke)
        if not got:
            if got.error:
                self.cancel_revoke()
            return got.reply
        view = got.value
        self.cancel_revoke()
        self.message, self.error = f"API key “{view.name}” revoked.", ""
        return ApiKeysState.load

    # ------------------------------------------------------------------------------------------ webhook
    @rx.event
    async def save_webhook(self, form_data: dict):
        if not isinstance(form_data, dict):
            return None
        url = form_data.get("url")
        self._pending_webhook = {"url": url if isinstance(url, str) else "",
                                 "enabled": form_data.get("enabled") in ("on", True, "true"),
                                 "rotate": False}
        return await self._save_webhook()

    @rx.event
    async def rotate_webhook_secret(self):
        self._pending_webhook = {"url": self.webhook_url, "enabled": self.webhook_enabled, "rotate": True}
        return await self._save_webhook()

    @rx.event
    async def webhook_retry(self):
        if self._pending_webhook:
            return await self._save_webhook()
        return None

    async def _save_webhook(self):
        p = dict(self._pending_webhook)
        got = await as_actor(self, lambda db, actor: webhooks.set_webhook(db, actor=actor, url=p["url"],
                                                                          enabled=p["enabled"],
                                                                          rotate_secret=p["rotate"]),
                             retry=ApiKeysState.webhook_retry)
        if not got:
            return got.reply
        secret = got.value
        self._pending_webhook = {}
        self.webhook_secret = secret or ""
        self.message, self.error = "Webhook saved.", ""
        return ApiKeysState.load

    @rx.event
    async def remove_webhook(self):
        got = await as_actor(self, lambda db, actor: webhooks.remove_webhook(db, actor=actor),
                             retry=ApiKeysState.remove_webhook)
        if not got:
            return got.reply
        self.webhook_secret, self.message = "", "Webhook removed."
        return ApiKeysState.load

    @rx.event
    def dismiss_secret(self):
        self.webhook_secret = ""
