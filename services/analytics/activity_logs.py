"""Activity Logs: the usage log (raw ledger), sign-ins and the audit trail, with keyset pagination.

Pages are newest first. A cursor is the (time, id) of a page's last row (audit trail: its chain `seq`, which
grows with time); "next" reads rows strictly before it, "prev" rows strictly after the first row — an index
range scan, never OFFSET, so page 1 and page 10,000 cost the same. Rows with equal timestamps are ordered by
id, so paging never skips or repeats a row. Org admins see their own org; super admins the chosen org, or
every org when none is chosen (actor.org_id None). Finance and members are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import String, and_, cast, func, or_, tuple_, union_all
from sqlmodel import Session, select

from models import KINDS, AIModel, AuditEvent, Organization, SignInEvent, UsageEvent, UsageMonthly, User, month_start
from services.core.actor import Actor
from services.core.audit import ChainReport, verify_chain
from services.core.errors import Invalid
from services.core.permissions import MANAGE, require_role, require_super, scoped_org_id, user_in_scope

UTC = UTC
PAGE_SIZES = (25, 50, 100)  # what the page offers
MAX_PAGE = 100
MAX_TEXT = 100
TABS = ("usage", "signins", "audit")


@dataclass(frozen=True)
class LogFilter:
    user_id: int | None = None
    action: str | None = None  # audit: exact action name
    model_id: int | None = None
    kind: str | None = None
    start: date | None = None
    end: date | None = None  # inclusive
    text: str = ""  # audit: words that must all appear (actor, action, target, values)
    outcome: str | None = None  # sign-ins: "success" | "failure"

    def time_bounds(self):
        lo = datetime.combine(self.start, time.min, tzinfo=UTC) if self.start else None
        hi = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC) if self.end else None
        return lo, hi


@dataclass
class LogPage:
    rows: list[dict]
    next_cursor: str | None  # None: this is the last page
    prev_cursor: str | None  # None: this is the first page
    columns: list[str] = field(default_factory=list)
    note: str = ""  # free-text search: how far this page searched


def _scope(db: Session, actor: Actor) -> int | None:
    """The org whose logs the actor reads (None: every org, super admins only)."""
    require_role(actor, MANAGE, "read the activity logs")
    if actor.is_super and actor.org_id is None:
        return None
    return scoped_org_id(db, actor)


def _date(value, name):
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise Invalid(f"{name.capitalize()} date must look like 2026-01-31.", field=name)


def _id(value, name):
    if value in (None, "", "all"):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise Invalid(f"Unknown {name}.", field=name)
    return value


def make_filter(db: Session, actor: Actor, **raw) -> LogFilter:
    """Validate filters from the page (any JSON may arrive); a user outside the actor's scope is NotFound."""
    unknown = set(raw) - {"user_id", "action", "model_id", "kind", "start", "end", "text", "outcome"}
    if unknown:
        raise Invalid(f"Unknown filter: {sorted(unknown)[0]}.")
    uid = _id(raw.get("user_id"), "user")
    if uid is not None:
        user_in_scope(db, actor, uid)
    kind = raw.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise Invalid("Kind must be 'tokens' or 'training'.", field="kind")
    action = raw.get("action") or None
    if action is not None and (not isinstance(action, str) or len(action) > 60):
        raise Invalid("Unknown action.", field="action")
    text = raw.get("text") or ""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise Invalid(f"Search text must be at most {MAX_TEXT} characters.", field="text")
    outcome = raw.get("outcome") or None
    if outcome not in (None, "success", "failure"):
        raise Invalid("Outcome must be success or failure.", field="outcome")
    start, end = _date(raw.get("start"), "start"), _date(raw.get("end"), "end")
    if start and end and end < start:
        raise Invalid("The range ends before it starts.", field="end")
    return LogFilter(uid, action.strip() if action else None, _id(raw.get("model_id"), "model"), kind,
                     start, end, text.strip(), outcome)


# ---------------------------------------------------------------------------------------------- cursors
def _encode(t: datetime | None, i: int) -> str:
    return f"{t.astimezone(UTC).isoformat(timespec='microseconds') if t else ''}|{i}"


def _decode(cursor, with_time: bool):
    if not isinstance(cursor, str) or len(cursor) > 80 or "|" not in cursor:
        raise Invalid("That page is no longer available; start from the first page.")
    t, _, i = cursor.partition("|")
    try:
        ident = int(i)
        when = datetime.fromisoformat(t) if with_time else None
    except ValueError:
        raise Invalid("That page is no longer available; start from the first page.") from None
    if with_time and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when, ident


def _page_size(limit) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"Page size must be between 1 and {MAX_PAGE}.", field="limit")
    return limit


def _keyset(q, key_cols, cursor, direction, limit, with_time=True):
    """Apply the cursor and the order; returns (rows newest-first, has_more_in_that_direction)."""
    if direction not in ("next", "prev"):
        raise Invalid("Direction must be next or prev.")
    if cursor is not None:
        when, ident = _decode(cursor, with_time)
        key = tuple_(*key_cols) if with_time else key_cols[-1]
        val = tuple_(when, ident) if with_time else ident
        q = q.where(key < val if direction == "next" else key > val)
    order = [c.desc() for c in key_cols] if direction == "next" or cursor is None else [c.asc() for c in key_cols]
    return q.order_by(*order).limit(limit + 1)


def _check_cursor(cursor, direction, with_time: bool) -> None:
    if direction not in ("next", "prev"):
        raise Invalid("Direction must be next or prev.")
    if cursor is not None:
        _decode(cursor, with_time)


def _merged_keys(db: Session, queries: list, key_cols: list, cursor, direction, limit, with_time=True):
    """The keys of one keyset page over several queries that each use their own index: UNION ALL of their pages
    (each already in order and limited), then the first limit + 1 keys, as a subquery to join the rows to."""
    arms = [_keyset(q, key_cols, cursor, direction, limit, with_time).subquery() for q in queries]
    u = union_all(*[select(*a.c) for a in arms]).subquery()
    names = [c.key for c in key_cols]
    asc = cursor is not None and direction == "prev"
    return (select(*u.c).order_by(*[u.c[n].asc() if asc else u.c[n].desc() for n in names])
            .limit(limit + 1).subquery())


def _finish(rows, direction, cursor, limit, key) -> tuple[list, str | None, str | None]:
    more = len(rows) > limit
    rows = list(rows[:limit])
    backwards = cursor is not None and direction == "prev"
    if backwards:
        rows.reverse()
    if not rows:
        return rows, None, None
    has_next = more if not backwards else True
    has_prev = (cursor is not None) if not backwards else more
    return rows, (key(rows[-1]) if has_next else None), (key(rows[0]) if has_prev else None)


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# ------------------------------------------------------------------------------------------------ usage
USAGE_COLUMNS = ["time", "user", "model", "prompt_tokens", "completion_tokens", "billed_tokens", "kind", "ip"]


def usage_query(org_id: int | None, f: LogFilter, *, keys_only: bool = False):
    """The usage rows of the filter with the names (one round trip); `keys_only`: just (occurred_at, id)."""
    e = UsageEvent
    if keys_only:
        q = select(e.occurred_at, e.id)
    else:
        q = (select(e.id, e.occurred_at, e.user_id, e.model_id, e.prompt_tokens, e.completion_tokens,
                    e.billed_tokens, e.kind, e.ip, e.org_id, User.email, AIModel.name, Organization.name)
             .outerjoin(User, User.id == e.user_id).outerjoin(AIModel, AIModel.id == e.model_id)
             .outerjoin(Organization, Organization.id == e.org_id))
    if org_id is not None:
        q = q.where(e.org_id == org_id)
    if f.user_id is not None:
        q = q.where(e.user_id == f.user_id)
    if f.model_id is not None:
        q = q.where(e.model_id == f.model_id)
    if f.kind:
        q = q.where(e.kind == f.kind)
    lo, hi = f.time_bounds()
    if lo:
        q = q.where(e.occurred_at >= lo)
    if hi:
        q = q.where(e.occurred_at < hi)
    return q


def usage_rows(db: Session, rows, all_orgs: bool) -> list[dict]:
    out = []
    for r in rows:
        row = {"time": _fmt(r[1]), "user": r[10] or f"#{r[2]}", "model": r[11] or f"#{r[3]}",
               "prompt_tokens": int(r[4]), "completion_tokens": int(r[5]), "billed_tokens": int(r[6]),
               "kind": r[7], "ip": r[8]}
        out.append({"org": r[12] or "", **row} if all_orgs else row)
    return out


SPARSE_SHARE = 50  # a filter matching fewer than 1 in 50 of the org's events in its range reads branch by branch


def usage_branches(db: Session, org_id: int | None, f: LogFilter) -> list[tuple[str, int]] | None:
    """For a sparse model or kind filter without a user: the (kind, model) pairs that have usage in the range
    (from the monthly rollup), each read through the (org, kind, model, time) index — so a rare or absent model
    costs what a common one does. None: read the log as one scan of the org's events (no such filter, a user
    filter, all orgs, or a filter common enough that the scan finds a page within a few thousand rows)."""
    if org_id is None or f.user_id is not None or (f.model_id is None and not f.kind):
        return None
    m = UsageMonthly
    q = select(m.kind, m.model_id, func.sum(m.events)).where(m.org_id == org_id)
    if f.start:
        q = q.where(m.month >= month_start(f.start))
    if f.end:
        q = q.where(m.month <= month_start(f.end))
    counts = {(k, mid): int(n) for k, mid, n in db.exec(q.group_by(m.kind, m.model_id)).all()}
    match = {key: n for key, n in counts.items()
             if n and (not f.kind or key[0] == f.kind) and (f.model_id is None or key[1] == f.model_id)}
    if match and sum(match.values()) * SPARSE_SHARE >= sum(counts.values()):
        return None
    return sorted(match)


def usage_log(db: Session, *, actor: Actor, flt: LogFilter, cursor: str | None = None, direction: str = "next",
              limit: int = 50) -> LogPage:
    org_id = _scope(db, actor)
    limit = _page_size(limit)
    e = UsageEvent
    branches = usage_branches(db, org_id, flt)
    if branches is None:
        found = db.exec(_keyset(usage_query(org_id, flt), [e.occurred_at, e.id], cursor, direction, limit)).all()
    elif branches:
        keys = _merged_keys(db, [usage_query(org_id, replace(flt, kind=k, model_id=mid), keys_only=True)
                                 for k, mid in branches], [e.occurred_at, e.id], cursor, direction, limit)
        found = db.exec(usage_query(org_id, flt).join(keys, keys.c.id == e.id).order_by(
            *[c.asc() if cursor is not None and direction == "prev" else c.desc()
              for c in (keys.c.occurred_at, keys.c.id)])).all()
    else:  # nothing of that model or kind in the range
        _check_cursor(cursor, direction, with_time=True)
        found = []
    rows, nxt, prv = _finish(found, direction, cursor, limit, lambda r: _encode(r[1], r[0]))
    cols = (["org"] if org_id is None else []) + USAGE_COLUMNS
    return LogPage(usage_rows(db, rows, org_id is None), nxt, prv, cols)


# --------------------------------------------------------------------------------------------- sign-ins
SIGNIN_COLUMNS = ["time", "user", "ip", "result", "reason"]


def signin_query(org_id: int | None, f: LogFilter):
    s = SignInEvent
    q = (select(s.id, s.created_at, s.email, s.ip, s.success, s.reason, s.org_id, Organization.name)
         .outerjoin(Organization, Organization.id == s.org_id))
    if org_id is not None:
        q = q.where(s.org_id == org_id)
    if f.user_id is not None:
        q = q.where(s.user_id == f.user_id)
    if f.outcome:
        q = q.where(s.success == (f.outcome == "success"))
    lo, hi = f.time_bounds()
    if lo:
        q = q.where(s.created_at >= lo)
    if hi:
        q = q.where(s.created_at < hi)
    return q


def signin_rows(db: Session, rows, all_orgs: bool) -> list[dict]:
    out = []
    for r in rows:
        row = {"time": _fmt(r[1]), "user": r[2], "ip": r[3], "result": "success" if r[4] else "failure",
               "reason": r[5]}
        out.append({"org": r[7] or "", **row} if all_orgs else row)
    return out


def sign_ins(db: Session, *, actor: Actor, flt: LogFilter, cursor: str | None = None, direction: str = "next",
             limit: int = 50) -> LogPage:
    org_id = _scope(db, actor)
    limit = _page_size(limit)
    s = SignInEvent
    q = _keyset(signin_query(org_id, flt), [s.created_at, s.id], cursor, direction, limit)
    rows, nxt, prv = _finish(db.exec(q).all(), direction, cursor, limit, lambda r: _encode(r[1], r[0]))
    return LogPage(signin_rows(db, rows, org_id is None), nxt, prv,
                   (["org"] if org_id is None else []) + SIGNIN_COLUMNS)


# ------------------------------------------------------------------------------------------------ audit
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


def audit_query(org_id: int | None, f: LogFilter, dialect: str, arm: str | None = None, *, keys_only: bool = False):
    """The audit rows of the filter. A user filter matches the user as actor or as target; `arm` ("actor" or
    "target", the latter without the user's own actions) reads one side, each through its own index."""
    a = AuditEvent
    q = select(a.seq) if keys_only else (
        select(a.id, a.seq, a.created_at, a.actor_email, a.action, a.target_type, a.target_id, a.before, a.after,
               a.ip, a.org_id, Organization.name).outerjoin(Organization, Organization.id == a.org_id))
    if org_id is not None:
        q = q.where(a.org_id == org_id)
    target = and_(a.target_type == "user", a.target_id == str(f.user_id))
    if f.user_id is not None and arm == "actor":
        q = q.where(a.actor_id == f.user_id)
    elif f.user_id is not None and arm == "target":
        q = q.where(target, or_(a.actor_id.is_(None), a.actor_id != f.user_id))
    elif f.user_id is not None:
        q = q.where(or_(a.actor_id == f.user_id, target))
    if f.action:
        q = q.where(a.action == f.action)
    lo, hi = f.time_bounds()
    if lo:
        q = q.where(a.created_at >= lo)
    if hi:
        q = q.where(a.created_at < hi)
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
        row = {"time": _fmt(r[2]), "actor": r[3] or "system", "action": r[4], "target": target,
               "changes": readable_diff(r[7], r[8]), "ip": r[9]}
        out.append({"org": r[11] or "", **row} if all_orgs else row)
    return out


def audit_trail(db: Session, *, actor: Actor, flt: LogFilter, cursor: str | None = None, direction: str = "next",
                limit: int = 50) -> LogPage:
    org_id = _scope(db, actor)
    limit = _page_size(limit)
    a = AuditEvent
    dialect = db.get_bind().dialect.name
    cols = (["org"] if org_id is None else []) + AUDIT_COLUMNS
    if flt.text:
        return _audit_text_page(db, org_id, flt, cursor, direction, limit, dialect, cols)
    if flt.user_id is not None and org_id is not None:
        keys = _merged_keys(db, [audit_query(org_id, flt, dialect, arm, keys_only=True) for arm in ("actor", "target")],
                            [a.seq], cursor, direction, limit, with_time=False)
        asc = cursor is not None and direction == "prev"
        found = db.exec(audit_query(org_id, LogFilter(), dialect).join(keys, keys.c.seq == a.seq)
                        .order_by(keys.c.seq.asc() if asc else keys.c.seq.desc())).all()
    else:
        found = db.exec(_keyset(audit_query(org_id, flt, dialect), [a.seq], cursor, direction, limit,
                                with_time=False)).all()
    rows, nxt, prv = _finish(found, direction, cursor, limit, lambda r: _encode(None, r[1]))
    return LogPage(audit_rows(db, rows, org_id is None), nxt, prv, cols)


TEXT_WINDOW = 2_000  # audit entries one free-text page reads at most (the words are matched row by row)


def _audit_text_page(db: Session, org_id, flt: LogFilter, cursor, direction, limit, dialect, cols) -> LogPage:
    """Free text: each page reads the next TEXT_WINDOW entries of the trail (in the org, within the other filters'
    range) and shows the matches among them, so a page costs the same whether the words are common, rare or
    absent; when a window holds fewer matches than a page, Next searches the following window."""
    _check_cursor(cursor, direction, with_time=False)
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
        at = _decode(cursor, False)[1]
        base = base.where(a.seq < at if back else a.seq > at)
    window = base.order_by(a.seq.desc() if back else a.seq.asc()).limit(TEXT_WINDOW).subquery()
    edge, n, when = db.exec(select(func.min(window.c.seq) if back else func.max(window.c.seq), func.count(),
                                   func.min(window.c.created_at) if back else func.max(window.c.created_at))).one()
    found = []
    if n:
        inside = (a.seq >= edge) if back else (a.seq <= edge)
        q = audit_query(org_id, flt, dialect).where(inside)
        if at is not None:
            q = q.where(a.seq < at if back else a.seq > at)
        found = db.exec(q.order_by(a.seq.desc() if back else a.seq.asc()).limit(limit + 1)).all()
    more, full = len(found) > limit, n == TEXT_WINDOW
    rows = list(found[:limit])
    if not back:
        rows.reverse()
    key = lambda r: _encode(None, r[1])  # noqa: E731
    if back:
        nxt = key(rows[-1]) if more else (_encode(None, edge) if full else None)
        prv = None if at is None else (key(rows[0]) if rows else _encode(None, at - 1))
    else:
        prv = key(rows[0]) if more else (_encode(None, edge) if full else None)
        nxt = key(rows[-1]) if rows else _encode(None, at + 1)
    note = ""
    if n and not more:
        note = (f"Searched {n:,} entries, back to {_fmt(when)}." if back else
                f"Searched {n:,} entries, up to {_fmt(when)}.") + (" More are searched page by page." if full else "")
    return LogPage(audit_rows(db, rows, org_id is None), nxt, prv, cols, note)


def audit_actions(db: Session, *, actor: Actor) -> list[str]:
    """The action names for the filter (distinct over the action index)."""
    _scope(db, actor)
    return list(db.exec(select(AuditEvent.action).distinct().order_by(AuditEvent.action).limit(200)).all())


def verify_audit_chain(db: Session, *, actor: Actor) -> ChainReport:
    require_super(actor, "verify the audit chain")
    return verify_chain(db)


def log_page(db: Session, *, actor: Actor, tab: str, flt: LogFilter, cursor=None, direction="next",
             limit=50) -> LogPage:
    fn = {"usage": usage_log, "signins": sign_ins, "audit": audit_trail}.get(tab) if isinstance(tab, str) else None
    if fn is None:
        raise Invalid("Unknown log.", field="tab")
    return fn(db, actor=actor, flt=flt, cursor=cursor, direction=direction, limit=limit)
