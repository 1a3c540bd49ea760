"""Activity Logs: the usage log (the raw ledger of usage events, with user, model and org names)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models import AIModel, Organization, UsageEvent, UsageMonthly, User, month_start
from services.analytics.keyset import check_cursor, encode_cursor, finish_page, keyset_query, merged_keys, page_size
from services.analytics.logs_filter import LogFilter, LogPage, fmt_time, log_scope
from services.core.actor import Actor

USAGE_COLUMNS = ["time", "user", "model", "prompt_tokens", "completion_tokens", "billed_tokens", "kind", "ip"]


def usage_query(org_id: int | None, f: LogFilter, *, keys_only: bool = False) -> Select[*tuple[Any, ...]]:
    """The usage rows of the filter with the names (one round trip); `keys_only`: just (occurred_at, id)."""
    e = UsageEvent
    q: Select[*tuple[Any, ...]]
    if keys_only:
        q = select(e.occurred_at, e.id)
    else:  # Select(): what select() builds for more columns than the four sqlmodel's select() is typed for
        q = (Select(col(e.id), col(e.occurred_at), col(e.user_id), col(e.model_id), col(e.prompt_tokens),
                    col(e.completion_tokens), col(e.billed_tokens), col(e.kind), col(e.ip), col(e.org_id),
                    col(User.email), col(AIModel.name), col(Organization.name))
             .outerjoin(User, col(User.id) == e.user_id).outerjoin(AIModel, col(AIModel.id) == e.model_id)
             .outerjoin(Organization, col(Organization.id) == e.org_id))
    if org_id is not None:
        q = q.where(e.org_id == org_id)
    if f.user_id is not None:
        q = q.where(e.user_id == f.user_id)
    if f.model_id is not None:
        q = q.where(e.model_id == f.model_id)
    if f.kind:
        q = q.where(e.kind == f.kind)
    q = f.in_range(q, e.occurred_at)
    return q


def usage_rows(db: Session, rows, all_orgs: bool) -> list[dict]:
    out = []
    for r in rows:
        row = {"time": fmt_time(r[1]), "user": r[10] or f"#{r[2]}", "model": r[11] or f"#{r[3]}",
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
    counts = {(k, mid): int(n) for k, mid, n in db.exec(q.group_by(col(m.kind), col(m.model_id))).all()}
    match = {key: n for key, n in counts.items()
             if n and (not f.kind or key[0] == f.kind) and (f.model_id is None or key[1] == f.model_id)}
    if match and sum(match.values()) * SPARSE_SHARE >= sum(counts.values()):
        return None
    return sorted(match)


def usage_log(db: Session, *, actor: Actor, flt: LogFilter, cursor: str | None = None, direction: str = "next",
              limit: int = 50) -> LogPage:
    org_id = log_scope(db, actor)
    limit = page_size(limit)
    e = UsageEvent
    branches = usage_branches(db, org_id, flt)
    if branches is None:
        found = db.exec(keyset_query(usage_query(org_id, flt), [e.occurred_at, e.id], cursor, direction, limit)).all()
    elif branches:
        keys = merged_keys(db, [usage_query(org_id, replace(flt, kind=k, model_id=mid), keys_only=True)
                                for k, mid in branches], [e.occurred_at, e.id], cursor, direction, limit)
        found = db.exec(usage_query(org_id, flt).join(keys, keys.c.id == e.id).order_by(
            *[c.asc() if cursor is not None and direction == "prev" else c.desc()
              for c in (keys.c.occurred_at, keys.c.id)])).all()
    else:  # nothing of that model or kind in the range
        check_cursor(cursor, direction, with_time=True)
        found = []
    rows, nxt, prv = finish_page(found, direction, cursor, limit, lambda r: encode_cursor(r[1], r[0]))
    cols = (["org"] if org_id is None else []) + USAGE_COLUMNS
    return LogPage(usage_rows(db, rows, org_id is None), nxt, prv, cols)
