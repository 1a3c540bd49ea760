"""Rollup buckets and the upserts that keep them equal to the ledger."""

from collections import defaultdict
from datetime import UTC, date, datetime
from functools import lru_cache

from sqlmodel import Session

from models import (
    UsageDaily,
    UsageHourly,
    UsageMonthly,
    UsageOrgDaily,
    UsageUserDaily,
    UsageUserMonthly,
    UsageUserMonthTotal,
    UsageUserYearTotal,
    month_start,
    year_start,
)
from services.core.dialect import built


@lru_cache(maxsize=4096)
def _times(t: datetime) -> tuple[date, datetime, date, date]:
    """(UTC day, UTC hour, first day of the UTC month, of the UTC year) of an instant (naive = UTC); events
    share few."""
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    day = t.date()
    return day, t.replace(minute=0, second=0, microsecond=0), month_start(day), year_start(day)


def buckets(ev) -> list[tuple[type, tuple, dict]]:
    """(table, key, increments) for each rollup one event lands in."""
    day, hour, month, year = _times(ev.occurred_at)
    billed = ev.billed_tokens
    return [
        (UsageDaily, (ev.org_id, ev.model_id, ev.kind, day),
         {"prompt_tokens": ev.prompt_tokens, "completion_tokens": ev.completion_tokens,
          "billed_tokens": billed, "events": 1}),
        (UsageHourly, (ev.org_id, ev.kind, hour), {"billed_tokens": billed, "events": 1}),
        (UsageUserMonthly, (ev.org_id, ev.user_id, ev.kind, month), {"billed_tokens": billed, "events": 1}),
        (UsageUserDaily, (ev.org_id, ev.user_id, ev.kind, day), {"billed_tokens": billed, "events": 1}),
        (UsageOrgDaily, (ev.org_id, ev.kind, day), {"billed_tokens": billed, "events": 1}),
        (UsageMonthly, (ev.org_id, ev.model_id, ev.kind, month),
         {"prompt_tokens": ev.prompt_tokens, "completion_tokens": ev.completion_tokens,
          "billed_tokens": billed, "events": 1}),
        (UsageUserMonthTotal, (ev.org_id, ev.user_id, month), _side_by_side(ev.kind, billed)),
        (UsageUserYearTotal, (ev.org_id, ev.user_id, year), _side_by_side(ev.kind, billed)),
    ]


def _side_by_side(kind: str, billed: int) -> dict:
    """The increments of a rollup holding both kinds in one row."""
    tokens = kind == "tokens"
    return {"tokens": billed if tokens else 0, "training": 0 if tokens else billed,
            "tokens_events": int(tokens), "training_events": int(not tokens)}


_KEYS = {
    UsageDaily: ("org_id", "model_id", "kind", "day"),
    UsageHourly: ("org_id", "kind", "hour"),
    UsageUserMonthly: ("org_id", "user_id", "kind", "month"),
    UsageUserDaily: ("org_id", "user_id", "kind", "day"),
    UsageOrgDaily: ("org_id", "kind", "day"),
    UsageMonthly: ("org_id", "model_id", "kind", "month"),
    UsageUserMonthTotal: ("org_id", "user_id", "month"),
    UsageUserYearTotal: ("org_id", "user_id", "year"),
}


def aggregate(events) -> dict[type, dict[tuple, dict]]:
    acc: dict[type, dict[tuple, dict]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for ev in events:
        for table, key, inc in buckets(ev):
            slot = acc[table][key]
            for k, v in inc.items():
                slot[k] += v
    return acc


def _upsert(insert, table, cols: tuple[str, ...]):
    """INSERT … ON CONFLICT (key) DO UPDATE SET col = col + excluded.col for the incremented columns."""
    t = table.__table__
    stmt = insert(t)
    return stmt.on_conflict_do_update(index_elements=list(_KEYS[table]),
                                      set_={c: t.c[c] + stmt.excluded[c] for c in cols})


def apply(session: Session, events) -> None:
    """Add the events' amounts to every rollup (one upsert per distinct bucket, in a fixed order so
    concurrent transactions on PostgreSQL lock rows in the same order and cannot deadlock)."""
    acc = aggregate(events)
    conn = None
    for table in _KEYS:  # insertion order: the same fixed order in every transaction
        rows = acc.get(table)
        if not rows:
            continue
        keys = _KEYS[table]
        params = [dict(zip(keys, key, strict=True), **inc) for key, inc in sorted(rows.items(), key=lambda kv: kv[0])]
        cols = tuple(c for c in params[0] if c not in keys)
        stmt = built(session, ("rollup", table, cols), lambda insert, t=table, c=cols: _upsert(insert, t, c))
        conn = conn or session.connection()
        conn.execute(stmt, params)
