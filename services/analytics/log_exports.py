"""Log exports: the raw usage events (also the Token Statistics page's export), sign-ins and the audit trail as
CSV — planned (rights, row count, limit) before anything is written, then read in keyset chunks for an export
job (export_jobs.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, tuple_
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from models import AuditEvent, SignInEvent, UsageDaily, UsageEvent, UsageUserDaily
from services.analytics.audit_log import AUDIT_COLUMNS, audit_query, audit_rows
from services.analytics.logs_filter import TABS, LogFilter, log_scope
from services.analytics.signin_log import SIGNIN_COLUMNS, signin_query, signin_rows
from services.analytics.stats_filter import resolve_scope
from services.analytics.usage_log import USAGE_COLUMNS, usage_query, usage_rows
from services.core.actor import Actor
from services.core.errors import Invalid

CHUNK = 10_000
MAX_ROWS = int(os.environ.get("STEWARD_EXPORT_MAX_ROWS", 5_000_000))  # streamed to disk, then over HTTP


def _count_usage(db: Session, org_id: int | None, flt: LogFilter) -> int:
    """Rows a raw usage export will hold, from the rollups when the filter allows (cheap), else COUNT."""
    if flt.start and flt.end and flt.user_id is None:
        t = UsageDaily
        q = select(func.coalesce(func.sum(t.events), 0)).where(t.day >= flt.start, t.day <= flt.end)
        if org_id is not None:
            q = q.where(t.org_id == org_id)
        if flt.kind:
            q = q.where(t.kind == flt.kind)
        if flt.model_id is not None:
            q = q.where(t.model_id == flt.model_id)
        return int(db.exec(q).one())
    if flt.start and flt.end and flt.model_id is None:
        u = UsageUserDaily
        q = select(func.coalesce(func.sum(u.events), 0)).where(u.day >= flt.start, u.day <= flt.end,
                                                                u.user_id == flt.user_id)
        if flt.kind:
            q = q.where(u.kind == flt.kind)
        return int(db.exec(q).one())
    sub = usage_query(org_id, flt).subquery()
    return int(db.exec(select(func.count()).select_from(sub)).one())


def _count(db: Session, tab: str, org_id: int | None, flt: LogFilter) -> int:
    if tab == "usage":
        return _count_usage(db, org_id, flt)
    q = signin_query(org_id, flt) if tab == "signins" else audit_query(org_id, flt, "")
    return int(db.exec(select(func.count()).select_from(q.subquery())).one())


def _org_for(db: Session, actor: Actor, tab: str) -> int | None:
    """Raw usage is also the Statistics page's export (finance may read it); the other logs need admin rights."""
    if tab not in TABS:
        raise Invalid("Unknown log.", field="tab")
    if tab == "usage":
        scope = resolve_scope(db, actor, "export usage")
        return None if scope.org_ids is None else scope.org_ids[0]
    return log_scope(db, actor)


@dataclass
class LogExport:
    tab: str
    filename: str
    header: list[str]
    total: int


def plan_log_export(db: Session, *, actor: Actor, tab: str, flt: LogFilter) -> LogExport:
    """Check rights, count the rows and refuse exports above the limit before anything is written."""
    org_id = _org_for(db, actor, tab)
    total = _count(db, tab, org_id, flt)
    if total > MAX_ROWS:
        raise Invalid(f"This export would hold {total:,} rows; the limit is {MAX_ROWS:,}. Narrow the date range "
                      "or add a filter.")
    cols = {"usage": USAGE_COLUMNS, "signins": SIGNIN_COLUMNS, "audit": AUDIT_COLUMNS}
    header = (["org"] if org_id is None else []) + cols[tab]
    name = {"usage": "usage-events", "signins": "sign-ins", "audit": "audit-trail"}[tab]
    return LogExport(tab, f"{name}_{flt.start or 'start'}_{flt.end or 'now'}.csv", header, total)


def log_chunks(session_factory, *, actor: Actor, tab: str, flt: LogFilter,
               chunk: int = CHUNK) -> Iterator[list[dict]]:
    """Rows of one log in keyset chunks, each chunk read in its own short read transaction."""
    with session_factory() as db:
        org_id = _org_for(db, actor, tab)
    cursor = None
    e, s, a = UsageEvent, SignInEvent, AuditEvent
    q: Select[*tuple[Any, ...]] | SelectOfScalar[int]
    keys: list[Mapped[Any]]
    while True:
        with session_factory() as db:
            if tab == "usage":
                q = usage_query(org_id, flt)
                keys, rows_of, key = [col(e.occurred_at), col(e.id)], usage_rows, (lambda r: (r[1], r[0]))
            elif tab == "signins":
                q = signin_query(org_id, flt)
                keys, rows_of, key = [col(s.created_at), col(s.id)], signin_rows, (lambda r: (r[1], r[0]))
            else:
                q = audit_query(org_id, flt, "")
                keys, rows_of, key = [col(a.seq)], audit_rows, (lambda r: (None, r[1]))
            if cursor is not None:
                q = q.where(tuple_(*keys) < tuple_(*cursor) if len(keys) == 2 else keys[0] < cursor[1])
            rows = db.exec(q.order_by(*[k.desc() for k in keys]).limit(chunk)).all()
            if not rows:
                return
            yield rows_of(db, rows, org_id is None)
            cursor = key(rows[-1])
