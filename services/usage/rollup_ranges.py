"""Which rollup rows add up to a date range exactly, reading as few rows as possible.

A range [start, end) of whole UTC days is split into signed *pieces* at the coarsest level that fits: whole
calendar years (`year`), whole months (`month`) and runs of days (`days`). A partial month is read either as
its days or as the whole month minus the days outside the range, whichever reads fewer rows; a partial year
likewise as its months or as the year minus the months outside. Pieces after `today` cost nothing (no usage
is recorded there), which makes "the last N days" cheap: the current month and year are read whole, minus
their empty future.

For a top-N question a partial month may also be left *open* (`edge=True`): its whole-month total bounds what
the days inside can add (0 ≤ part ≤ month), the top N are found from those bounds, and only the few candidates
that can still reach the top N are summed exactly from the daily rollup (statistics.per_user).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from models import month_start, year_start

USER_DAY_COST = 0.75  # rows of a day of the per-user daily rollup relative to a month (not everyone is active daily)


@dataclass(frozen=True)
class Piece:
    sign: int  # +1 adds the rows, -1 subtracts them
    level: str  # "year" | "month" | "days"
    lo: date  # first day covered
    hi: date  # first day after
    edge: bool = False  # a month read whole for bounds only; the exact part is `part`
    part: tuple[date, date] | None = None


def next_month(d: date) -> date:
    return month_start(d.replace(day=28) + timedelta(days=4))


def next_year(d: date) -> date:
    return date(d.year + 1, 1, 1)


@dataclass(frozen=True)
class Costs:
    today: date  # days after it hold no usage: reading them costs nothing
    day: float = USER_DAY_COST  # rows of one day relative to one month or year (same grain otherwise)

    def of(self, p: Piece) -> float:
        if p.lo > self.today:
            return 0.0
        if p.level == "days":
            return self.day * (min(p.hi, self.today + timedelta(days=1)) - p.lo).days
        return 1.0

    def total(self, pieces: Iterable[Piece]) -> float:
        return sum(self.of(p) for p in pieces)


def _neg(pieces: list[Piece]) -> list[Piece]:
    return [Piece(-p.sign, p.level, p.lo, p.hi, p.edge, p.part) for p in pieces]


def _days(lo: date, hi: date) -> list[Piece]:
    return [Piece(1, "days", lo, hi)] if lo < hi else []


def _months(lo: date, hi: date, c: Costs, edges: bool) -> list[Piece]:
    """[lo, hi) inside one calendar year, month by month."""
    out: list[Piece] = []
    m = month_start(lo)
    while m < hi:
        nxt = next_month(m)
        a, b = max(lo, m), min(hi, nxt)
        if (a, b) == (m, nxt):
            out.append(Piece(1, "month", m, nxt))
        else:
            options = [_days(a, b), [Piece(1, "month", m, nxt)] + _neg(_days(m, a) + _days(b, nxt))]
            if edges:
                options.append([Piece(1, "month", m, nxt, edge=True, part=(a, b))])
            out += min(options, key=c.total)
        m = nxt
    return out


def pieces(start: date, end: date, costs: Costs, *, years: bool = True, edges: bool = False) -> list[Piece]:
    """Signed pieces whose sum is exactly the usage of [start, end) (open edges: see the module doc).
    `years`: whether a yearly rollup answers the question (else months are the coarsest level)."""
    out: list[Piece] = []
    y = year_start(start)
    while y < end:
        ny = next_year(y)
        lo, hi = max(start, y), min(end, ny)
        if not years:
            out += _months(lo, hi, costs, edges)
        elif (lo, hi) == (y, ny):
            out.append(Piece(1, "year", y, ny))
        else:
            inside = _months(lo, hi, costs, edges)
            outside = [Piece(1, "year", y, ny)] + _neg(_months(y, lo, costs, edges) + _months(hi, ny, costs, edges))
            out += min((inside, outside), key=costs.total)
        y = ny
    return out
