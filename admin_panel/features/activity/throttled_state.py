"""Activity Logs → Throttled sign-ins (super admins): the accounts, addresses, trusted browsers and MFA targets
whose failures slow attempts down now, and Unlock (after a confirmation; audited by the service)."""

from typing import ClassVar

import reflex as rx

from admin_panel.runtime.guard import AdminArea
from admin_panel.shell.handler import as_actor
from admin_panel.ui import formatting as fmt
from models import Role
from services.auth import throttle


def _row(r: dict) -> dict[str, str]:
    wait = r["wait_seconds"]
    return {"key": r["key"], "kind": r["kind"], "subject": r["subject"], "failures": str(r["failures"]),
            "last_failure": fmt.moment(r["last_failure_at"]),
            "wait": f"{wait} s" if wait else "—", "slowed": "1" if r["slowed"] else ""}


class ThrottledState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = (Role.super_admin.value,)

    rows: list[dict[str, str]] = []
    error: str = ""
    message: str = ""
    confirm_open: bool = False
    confirm_subject: str = ""
    _confirm_key: str = ""

    @rx.event
    async def load(self):
        got = await as_actor(self, lambda db, actor: throttle.throttled(db, actor=actor), read=True)
        if not got:
            return got.reply
        self.rows, self.error = [_row(r) for r in got.value], ""
        return None

    @rx.event
    def ask_unlock(self, key: str):
        row = next((r for r in self.rows if isinstance(key, str) and r["key"] == key), None)
        if row is None:
            self.error = "That throttled sign-in is no longer there."
            return
        self._confirm_key, self.confirm_subject, self.confirm_open = key, f"{row['kind']} {row['subject']}", True

    @rx.event
    def cancel_unlock(self):
        self._confirm_key, self.confirm_subject, self.confirm_open = "", "", False

    @rx.event
    async def confirm_unlock(self):
        key, subject = self._confirm_key, self.confirm_subject
        self.cancel_unlock()
        if not key:
            return None
        got = await as_actor(self, lambda db, actor: throttle.unlock(db, actor=actor, key=key))
        if got.reply is not None:  # signed out
            return got.reply
        if got:
            self.message = f"Unlocked {subject}: its {got.value} failed attempts are forgotten."
        return ThrottledState.load
