"""Activity Logs: the audit trail (readable changes, filters, free-text search window by window, the chain check)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, and_, cast, func, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from models import AuditEvent, Organization
from services.analytics.keyset import (
    check_cursor,
    decode_cursor,
    encode_cursor,
    finish_page,
    keyset_query,
    merged_keys,
    page_size,
)
from services.analytics.logs_filter import LogFilter, LogPage, fmt_time, log_scope
from services.core.actor import Actor
from services.core.audit import ChainReport, verify_chain
from services.core.permissions import require_super

AUDIT_COLUMNS = ["time", "actor", "action", "target", "changes", "ip"]


def _short(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"  # token amounts read as 1,500,000
    text = v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "…"


def readable_diff(before: dict | None, after: dict | None) -> str:
    """'field: old → new' for every value that differs; one line per field, keys in order."""
    before, after = before or {}, after or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{_short(before)} → {_short(after)}"
    lines = []
    for k in sorted(set(before) | set(after)):
        old, new = before.get(k, None), after.get(k, None)
        if old == new:
            continue
        if k not in before:
            lines.append(f"{k}: {_short(new)} (new)")
        elif k not in after:
            lines.append(f"{k}: {_short(old)} (removed)")
        else:
            lines.append(f"{k}: {_short(old)} → {_short(new)}")
    return "\n".join(lines)


def audit_query(org_id: int | None, f: LogFilter, dialect: str, arm: str | None = None, *,
                keys_only: bool = False) -> Select[*tuple[Any, ...]] | SelectOfScalar[int]:
    """The audit rows of the filter. A user filter matches the user as actor or as target; `arm` ("actor" or
    "target", the latter without the user's own actions) reads one side, each through its own index."""
    a = AuditEvent
    # Select(): what select() builds for more columns than the four sqlmodel's select() is typed for
    q: Select[*tuple[Any, ...]] | SelectOfScalar[int] = select(a.seq) if keys_only else (
        Select(col(a.id), col(a.seq), col(a.created_at), col(a.actor_email), col(a.action), col(a.target_type),
               col(a.target_id), col(a.before), col(a.after), col(a.ip), col(a.org_id), col(Organization.name))
        .outerjoin(Organization, col(Organization.id) == a.org_id))
    if org_id is not None:
        q = q.where(a.org_id == org_id)
    actor_id = col(a.actor_id)
    target = and_(col(a.target_type) == "user", col(a.target_id) == str(f.user_id))
    if f.user_id is not None and arm == "actor":
        q = q.where(actor_id == f.user_id)
    elif f.user_id is not None and arm == "target":
        q = q.where(target, or_(actor_id.is_(None), actor_id != f.user_id))
    elif f.user_id is not None:
        q = q.where(or_(actor_id == f.user_id, target))
    if f.action:
        q = q.where(a.action == f.action)
    q = f.in_range(q, a.created_at)
    for word in f.text.lower().split()[:5]:
        esc = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{esc}%"
        hay = [func.lower(a.actor_email), func.lower(a.action), func.lower(a.target_type), func.lower(a.target_id),
               func.lower(cast(a.before, String)), func.lower(cast(a.after, String))]
        q = q.where(or_(*[h.like(like, escape="\\") for h in hay]))
    return q


def audit_rows(db: Session, rows, all_orgs: bool) -> list[dict]:
    out = []
    for r in rows:
        target = f"{r[5]} {r[6]}".strip()
        row = {"time": fmt_time(r[2]), "actor": r[3] or "system", "action": r[4], "target": target,
               "changes": readable_diff(r[7], r[8]), "ip": r[9]}
        out.append({"org": r[11] or "", **row} if all_orgs else row)
    return out


def audit_trail(db: Session, *, actor: Actor, flt: LogFilter, cursor: str | None = None, direction: str = "next",
                limit: int = 50) -> LogPage:
    org_id = log_scope(db, actor)
    limit = page_size(limit)
    a = AuditEvent
    dialect = db.get_bind().dialect.name
    cols = (["org"] if org_id is None else []) + AUDIT_COLUMNS
    if flt.text:
        return _audit_text_page(db, org_id, flt, cursor, direction, limit, dialect, cols)
    if flt.user_id is not None and org_id is not None:
        keys = merged_keys(db, [audit_query(org_id, flt, dialect, arm, keys_only=True) for arm in ("actor", "target")],
                           [a.seq], cursor, direction, limit, with_time=False)
        asc = cursor is not None and direction == "prev"
        found = db.exec(audit_query(org_id, LogFilter(), dialect).join(keys, keys.c.seq == a.seq)
                        .order_by(keys.c.seq.asc() if asc else keys.c.seq.desc())).all()
    else:
        found = db.exec(keyset_query(audit_query(org_id, flt, dialect), [a.seq], cursor, direction, limit,
                                     with_time=False)).all()
    rows, nxt, prv = finish_page(found, direction, cursor, limit, lambda r: encode_cursor(None, r[1]))
    return LogPage(audit_rows(db, rows, org_id is None), nxt, prv, cols)


TEXT_WINDOW = 2_000  # audit entries one free-text page reads at most (the words are matched row by row)


def _audit_text_page(db: Session, org_id, flt: LogFilter, cursor, direction, limit, dialect, cols) -> LogPage:
    """Free text: each page reads the next TEXT_WINDOW entries of the trail (in the org, within the other filters'
    range) and shows the matches among them, so a page costs the same whether the words are common, rare or
    absent; when a window holds fewer matches than a page, Next searches the following window."""
    check_cursor(cursor, direction, with_time=False)
    a = AuditEvent
    back = cursor is None or direction == "next"
    base = select(a.seq, a.created_at)
    if org_id is not None:
        base = base.where(a.org_id == org_id)
    lo, hi = flt.time_bounds()
    if lo:
        base = base.where(a.created_at >= lo)
    if hi:
        base = base.where(a.created_at < hi)
    at = None
    if cursor is not None:
        at = decode_cursor(cursor, False)[1]
        base = base.where(a.seq < at if back else a.seq > at)
    seq = col(a.seq)
    window = base.order_by(seq.desc() if back else seq.asc()).limit(TEXT_WINDOW).subquery()
    edge, n, when = db.exec(select(func.min(window.c.seq) if back else func.max(window.c.seq), func.count(),
                                   func.min(window.c.created_at) if back else func.max(window.c.created_at))).one()
    found: Sequence[Any] = []
    if n:
        inside = (a.seq >= edge) if back else (a.seq <= edge)
        q = audit_query(org_id, flt, dialect).where(inside)
        if at is not None:
            q = q.where(a.seq < at if back else a.seq > at)
        found = db.exec(q.order_by(seq.desc() if back else seq.asc()).limit(limit + 1)).all()
    more, full = len(found) > limit, n == TEXT_WINDOW
    rows = list(found[:limit])
    if not back:
        rows.reverse()
    key = lambda r: encode_cursor(None, r[1])  # noqa: E731
    if back or at is None:  # at is None: no cursor, so the first page, read backwards
        nxt = key(rows[-1]) if more else (encode_cursor(None, edge) if full else None)
        prv = None if at is None else (key(rows[0]) if rows else encode_cursor(None, at - 1))
    else:
        prv = key(rows[0]) if more else (encode_cursor(None, edge) if full else None)
        nxt = key(rows[-1]) if rows else encode_cursor(None, at + 1)
    note = ""
    if n and not more:
        note = (f"Searched {n:,} entries, back to {fmt_time(when)}." if back else
                f"Searched {n:,} entries, up to {fmt_time(when)}.")
        note += " More are searched page by page." if full else ""
    return LogPage(audit_rows(db, rows, org_id is None), nxt, prv, cols, note)


def audit_actions(db: Session, *, actor: Actor) -> list[str]:
    """The action names for the filter (distinct over the action index)."""
    log_scope(db, actor)
    return list(db.exec(select(AuditEvent.action).distinct().order_by(AuditEvent.action).limit(200)).all())


def verify_audit_chain(db: Session, *, actor: Actor) -> ChainReport:
    require_super(actor, "verify the audit chain")
    return verify_chain(db)
