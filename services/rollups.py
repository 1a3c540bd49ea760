"""Rollup buckets and the upserts that keep them equal to the ledger."""

from collections import defaultdict
from datetime import datetime, timezone

from sqlmodel import Session

from models import (UsageDaily, UsageHourly, UsageMonthly, UsageOrgDaily, UsageUserDaily, UsageUserMonthly,
                    UsageUserMonthTotal, UsageUserYearTotal, month_start, year_start)
from services.dialect import insert_for


def buckets(ev) -> list[tuple[type, tuple, dict]]:
    """(table, key, increments) for each rollup one event lands in."""
    t: datetime = ev.occurred_at
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    day = t.date()
    hour = t.replace(minute=0, second=0, microsecond=0)
    billed = ev.billed_tokens
    return [
        (UsageDaily, (ev.org_id, ev.model_id, ev.kind, day),
         {"prompt_tokens": ev.prompt_tokens, "completion_tokens": ev.completion_tokens,
          "billed_tokens": billed, "events": 1}),
        (UsageHourly, (ev.org_id, ev.kind, hour), {"billed_tokens": billed, "events": 1}),
        (UsageUserMonthly, (ev.org_id, ev.user_id, ev.kind, month_start(day)), {"billed_tokens": billed, "events": 1}),
        (UsageUserDaily, (ev.org_id, ev.user_id, ev.kind, day), {"billed_tokens": billed, "events": 1}),
        (UsageOrgDaily, (ev.org_id, ev.kind, day), {"billed_tokens": billed, "events": 1}),
        (UsageMonthly, (ev.org_id, ev.model_id, ev.kind, month_start(day)),
         {"prompt_tokens": ev.prompt_tokens, "completion_tokens": ev.completion_tokens,
          "billed_tokens": billed, "events": 1}),
        (UsageUserMonthTotal, (ev.org_id, ev.user_id, month_start(day)), _side_by_side(ev.kind, billed)),
        (UsageUserYearTotal, (ev.org_id, ev.user_id, year_start(day)), _side_by_side(ev.kind, billed)),
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


def apply(session: Session, events) -> None:
    """Add the events' amounts to every rollup (one upsert per distinct bucket, in a fixed order so
    concurrent transactions on PostgreSQL lock rows in the same order and cannot deadlock)."""
    acc = aggregate(events)
    for table in _KEYS:  # insertion order: the same fixed order in every transaction
        rows = acc.get(table)
        if not rows:
            continue
        keys = _KEYS[table]
        params = [dict(zip(keys, key), **inc) for key, inc in sorted(rows.items(), key=lambda kv: kv[0])]
        cols = [c for c in params[0] if c not in keys]
        stmt = insert_for(session, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: getattr(table, c) + getattr(stmt.excluded, c) for c in cols},
        )
        session.execute(stmt, params)
