"""User Management's table: one user row as the page shows it (pending cap edits over the saved values), the
summary cards, the parsing of a typed cap, and the service call behind each action of the row's dialog."""

from datetime import UTC, datetime, time

from admin_panel.runtime.ids import browser_id
from admin_panel.ui import formatting as fmt_
from services.auth import mfa, signin
from services.core import settings
from services.tokens import allocation
from services.users import invitations, user_admin, user_table

ROLE_LABELS = {"super_admin": "Super admin", "admin": "Admin", "finance": "Finance", "member": "Member"}
CAP_FIELDS = ("max_tokens", "max_training_tokens")


fmt, fmt_dt = fmt_.number, fmt_.moment  # the one formatter module (admin_panel/ui/formatting.py)


user_id_of = browser_id


def parse_tokens(text) -> int | None:
    """A cap typed in the table: digits with optional separators; None if it is not a whole number."""
    if not isinstance(text, str):
        return None
    raw = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    if not raw.isdigit() or len(raw) > 19:
        return None
    return int(raw)


def display_row(row: user_table.UserRow, edits: dict[str, dict[str, str]]) -> dict[str, str]:
    e = edits.get(str(row.id), {})
    return {
        "id": str(row.id), "name": row.name or "—", "email": row.email, "role": row.role,
        "role_label": ROLE_LABELS.get(row.role, row.role), "mfa": "yes" if row.mfa else "no",
        "paid": "yes" if row.paid else "no", "banned": "yes" if row.banned else "no",
        "ban_note": (row.ban_reason + (f" (until {row.banned_until:%Y-%m-%d})" if row.banned_until else ""))
        if row.banned else "",
        "verified": "yes" if row.verified else "no", "pinned": "yes" if row.pinned else "no",
        "invited": "yes" if row.invited else "no",
        "max_tokens": e.get("max_tokens", fmt(row.max_tokens)),
        "max_training_tokens": e.get("max_training_tokens", fmt(row.max_training_tokens)),
        "edited_tokens": "yes" if "max_tokens" in e else "no",
        "edited_training": "yes" if "max_training_tokens" in e else "no",
        "used_month": fmt(row.used_month), "used_prev": fmt(row.used_prev), "used_total": fmt(row.used_total),
        "used_month_training": fmt(row.used_month_training), "used_prev_training": fmt(row.used_prev_training),
        "used_total_training": fmt(row.used_total_training), "last_login": fmt_dt(row.last_login),
    }


def summary_cards(s) -> list[dict[str, str]]:
    cards = []
    for ks, label in ((s.tokens, "Tokens"), (s.training, "Training tokens")):
        cards.append({"kind": label, "purchased": fmt(ks.purchased), "assigned": fmt(ks.assigned),
                      "used": fmt(ks.used_this_month), "unassigned": fmt(ks.unassigned),
                      "over": fmt(ks.overbooked_by) if ks.overbooked_by else ""})
    return cards


def run_action(db, actor, action: str, uid: int, p: dict, until):
    """One confirmed action of the dialog on one user: the warnings to show, or the invitation / reset link."""
    if action in ("paid_on", "paid_off"):
        return user_admin.set_paid(db, actor=actor, user_id=uid, paid=action == "paid_on").warnings
    if action in ("ban", "unban"):
        user_admin.set_ban(db, actor=actor, user_id=uid, banned=action == "ban",
                           reason=p.get("reason") if isinstance(p.get("reason"), str) else "", until=until)
    elif action == "disable":
        user_admin.disable(db, actor=actor, user_id=uid)
    elif action == "verify":
        user_admin.set_verified(db, actor=actor, user_id=uid)
    elif action == "role":
        user_admin.set_role(db, actor=actor, user_id=uid, role=p.get("role"))
    elif action in ("pin", "unpin"):
        allocation.set_pinned(db, actor=actor, user_id=uid, pinned=action == "pin")
    elif action == "invite":
        return invitations.reissue(db, actor=actor, user_id=uid)
    elif action == "reset_link":
        return signin.admin_reset_link(db, actor=actor, user_id=uid)
    elif action == "reset_mfa":
        mfa.reset_mfa(db, actor=actor, user_id=uid)
    return []


def ban_until(pending: dict) -> datetime | None:
    """The end date typed in the ban dialog (None: no end); ValueError if it is not a date."""
    if not pending.get("until"):
        return None
    return datetime.combine(datetime.strptime(str(pending["until"])[:10], "%Y-%m-%d").date(), time.min, UTC)


def link_and_note(out: invitations.Invite | str, mailed: bool) -> tuple[str, str]:
    """A new invitation or reset link and the line shown under it."""
    if isinstance(out, invitations.Invite):
        return out.link, ("E-mailed to the user; the earlier invitation links no longer work." if mailed
                          else "Copy it and send it to the user; the earlier invitation links no "
                               f"longer work. It expires in {invitations.INVITE_DAYS} days.")
    return out, (f"Copy it and send it to the user: it works once and expires in "
                 f"{settings.RESET_LINK_MINUTES} minutes.")
