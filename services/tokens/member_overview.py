"""The member page's numbers: allocation, used this month, remaining, resets on, projected run-out date."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from models import month_start, utcnow
from services.core.actor import Actor
from services.core.errors import Forbidden
from services.tokens import budget
from services.tokens.pool import next_month_start


@dataclass
class KindOverview:
    kind: str
    allocation: int
    used: int
    remaining: int
    resets_on: date
    run_out: date | None  # None: no use yet, or not before the reset
    run_out_note: str
    reason: str
    held: int = 0  # held by open reservations (a request in progress at the gateway), not in `remaining`


def projected_run_out(allocation: int, used: int, now: datetime) -> tuple[date | None, str]:
    """At this month's average daily pace, the day the allocation runs out (if before the monthly reset)."""
    reset = next_month_start(now)
    if used <= 0:
        return None, "No use yet this month"
    if used >= allocation:
        return now.date(), "Allocation used up"
    start = datetime.combine(month_start(now), datetime.min.time(), tzinfo=now.tzinfo)
    elapsed = max((now - start).total_seconds(), 3600.0)  # at least an hour: no wild early projections
    seconds_left = (allocation - used) * elapsed / used
    when = now + timedelta(seconds=seconds_left)
    if when >= reset:
        return None, "Not before the reset"
    return when.date(), ""


def overview(session, *, actor: Actor, now: datetime | None = None) -> dict[str, KindOverview]:
    """The signed-in user's own numbers for both kinds."""
    now = now or utcnow()
    if actor.user_id is None:
        raise Forbidden("Only a signed-in user has a budget of their own.")
    out = {}
    for kind in ("tokens", "training"):
        b = budget.remaining_budget(session, actor=actor, user_id=actor.user_id, kind=kind, now=now)
        run_out, note = projected_run_out(b.cap, b.used_this_month, now)
        out[kind] = KindOverview(kind, b.cap, b.used_this_month, b.left, next_month_start(now).date(), run_out,
                                 note, b.reason, b.held)
    return out
