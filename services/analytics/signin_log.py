"""Activity Logs: the sign-ins (every attempt, successful or not)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col
from sqlmodel.sql.expression import Select

from models import Organization, SignInEvent
from services.analytics.keyset import encode_cursor, finish_page, keyset_query, page_size
from services.analytics.logs_filter import LogFilter, LogPage, fmt_time, log_scope
from services.core.actor import Actor

SIGNIN_COLUMNS = ["time", "user", "ip", "result", "reason"]


def signin_query(org_id: int | None, f: LogFilter) -> Select[*tuple[Any, ...]]:
    s = SignInEvent
    # Select(): what select() builds for more columns than the four sqlmodel's select() is typed for
    q: Select[*tuple[Any, ...]] = (
        Select(col(s.id), col(s.created_at), col(s.email), col(s.ip), col(s.success), col(s.reason), col(s.org_id),
               col(Organization.name)).outerjoin(Organization, col(Organization.id) == s.org_id))
    if org_id is not None:
        q = q.where(s.org_id == org_id)
    if f.user_id is not None:
        q = q.where(s.user_id == f.user_id)
    if f.outcome:
        q = q.where(s.success == (f.outcome == "success"))
    q = f.in_range(q, s.created_at)
    return q


def signin_rows(db: Session, rows, all_orgs: bool) -> list[dict]:
    out = []
    for r in rows:
        row = {"time": fmt_time(r[1]), "user": r[2], "ip": r[3], "result": "success" if r[4] else "failure",
               "reason": r[5]}
        out.append({"org": r[7] or "", **row} if all_orgs else row)
    return out


def sign_ins(db: Session, *, actor: Actor, flt: LogFilter, cursor: str | None = None, direction: str = "next",
             limit: int = 50) -> LogPage:
    org_id = log_scope(db, actor)
    limit = page_size(limit)
    s = SignInEvent
    q = keyset_query(signin_query(org_id, flt), [s.created_at, s.id], cursor, direction, limit)
    rows, nxt, prv = finish_page(db.exec(q).all(), direction, cursor, limit, lambda r: encode_cursor(r[1], r[0]))
    return LogPage(signin_rows(db, rows, org_id is None), nxt, prv,
                   (["org"] if org_id is None else []) + SIGNIN_COLUMNS)
