"""Token Statistics: the cards (pool, caps, use this month and its projection, burn rate, days left), per org
and in total, from purchases, caps and the org × kind × day rollup."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from models import month_start, utcnow
from services.analytics import statistics_sql as q
from services.analytics.stats_filter import Scope, resolve_scope
from services.core.actor import Actor
from services.tokens.pool import next_month_start

BURN_DAYS = 7  # the burn rate is the average of the last 7 full days plus today


@dataclass
class Cards:
    purchased: int
    assigned: int
    used_this_month: int
    projected_month_end: int
    burn_per_day: int
    pool_remaining: int
    days_left: int | None  # None: no usage in the burn window
    training_purchased: int = 0
    training_used_this_month: int = 0
    per_org: list[dict] = field(default_factory=list)  # all-orgs view: one row per org


def projected(used: int, now: datetime) -> int:
    """Month-end use if the month goes on at the pace so far (integer arithmetic on elapsed seconds)."""
    first = datetime.combine(month_start(now), datetime.min.time(), tzinfo=now.tzinfo)
    total = int((next_month_start(now) - first).total_seconds())
    elapsed = max(1, int((now - first).total_seconds()))
    return used * total // elapsed


def _utc_day(t: datetime) -> date:
    return (t.astimezone(UTC) if t.tzinfo else t).date()


def _card_rows(db: Session, ids: list[int], now: datetime) -> list[dict]:
    """The numbers of services.tokens.pool.compute_summary (same rules) plus the burn window, per org, in three
    queries whatever the number of orgs: purchases and caps, then usage from the org × kind × day rollup."""
    if not ids:
        return []
    pools: dict[int, tuple[int, int, datetime | None]] = {}
    caps: dict[int, tuple[int, int, datetime | None]] = {}
    for what, o, a, b, start in q.pools_and_caps(db, ids, now):
        (pools if what == "p" else caps)[o] = (int(a), int(b), start)
    today, month = now.date(), month_start(now)
    since = today - timedelta(days=BURN_DAYS)
    starts = {o: _utc_day(v[2]) for o, v in pools.items() if v[2] is not None}
    usage = {(o, kind): (int(m), int(pool_used), int(burn))
             for o, kind, m, pool_used, burn in q.org_usage(db, ids, month, since, today, starts)}
    out = []
    for o in ids:
        tok, tr, _ = pools.get(o, (0, 0, None))
        ut, utr = usage.get((o, "tokens"), (0, 0, 0)), usage.get((o, "training"), (0, 0, 0))
        out.append({"org_id": o, "purchased": tok, "assigned": caps.get(o, (0, 0, None))[0], "used_this_month": ut[0],
                    "pool_remaining": max(0, tok - ut[1]), "burn_total": ut[2], "training_purchased": tr,
                    "training_used_this_month": utr[0]})
    return out


def cards(db: Session, *, actor: Actor, now: datetime | None = None, scope: Scope | None = None) -> Cards:
    """Inference-token cards; burn = tokens used over the last 7 days and today, per elapsed day."""
    scope = resolve_scope(db, actor, scope=scope)
    now = now or utcnow()
    ids = list(scope.ids)
    rows = _card_rows(db, ids, now)
    tot = {k: sum(r[k] for r in rows) for k in ("purchased", "assigned", "used_this_month", "pool_remaining",
                                                  "burn_total", "training_purchased", "training_used_this_month")}
    elapsed_days = BURN_DAYS + max(1, (now - datetime.combine(now.date(), datetime.min.time(),
                                                              tzinfo=now.tzinfo)).seconds) / 86_400
    burn = int(tot["burn_total"] / elapsed_days)
    per_org = []
    if scope.all_orgs:
        for r in rows:
            b = int(r["burn_total"] / elapsed_days)
            per_org.append({"org": scope.names[r["org_id"]], "purchased": r["purchased"], "assigned": r["assigned"],
                            "used_this_month": r["used_this_month"],
                            "projected_month_end": projected(r["used_this_month"], now),
                            "days_left": (r["pool_remaining"] // b) if b else None})
    return Cards(purchased=tot["purchased"], assigned=tot["assigned"], used_this_month=tot["used_this_month"],
                 projected_month_end=projected(tot["used_this_month"], now), burn_per_day=burn,
                 pool_remaining=tot["pool_remaining"], days_left=(tot["pool_remaining"] // burn) if burn else None,
                 training_purchased=tot["training_purchased"],
                 training_used_this_month=tot["training_used_this_month"], per_org=per_org)
