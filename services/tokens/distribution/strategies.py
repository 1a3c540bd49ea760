"""Distribution strategies: pure integer arithmetic over the participants (no database).

Each strategy finds a "water level" L and gives every participant clamp(f(L), floor, ceiling), with the
largest L whose total stays within the distributable amount. Floors are hard: when the floors alone need
more than is distributable, everyone gets their floor and the plan reports the shortfall.
"""

from dataclasses import dataclass


@dataclass
class Slot:
    user_id: int
    current: int
    floor: int
    ceiling: int | None
    usage: int = 0


def _clamp(v: int, s: Slot) -> int:
    if s.ceiling is not None and v > s.ceiling:
        v = s.ceiling
    return max(v, s.floor)


def _max_level(total_at, budget: int, hi: int) -> int:
    """Largest integer L in [0, hi] with total_at(L) <= budget (total_at non-decreasing)."""
    lo = 0
    if total_at(hi) <= budget:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if total_at(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _top(slots: list[Slot], budget: int) -> int:
    return max([budget] + [s.ceiling for s in slots if s.ceiling is not None] + [s.floor for s in slots]) + 1


def equal(slots: list[Slot], budget: int) -> list[int]:
    """Everyone the same amount (within their floor/ceiling)."""
    if not slots:
        return []
    level = _max_level(lambda L: sum(_clamp(L, s) for s in slots), budget, _top(slots, budget))
    return [_clamp(level, s) for s in slots]


def usage_based(slots: list[Slot], budget: int) -> list[int] | None:
    """In proportion to usage over the lookback window. None when nobody used anything (caller falls back)."""
    total = sum(s.usage for s in slots)
    if not slots or total == 0:
        return None
    # share_i(L) = L * usage_i // total: at L = budget that is the plain proportional split.
    hi = _top(slots, budget) * total
    f = lambda L: sum(_clamp(L * s.usage // total, s) for s in slots)  # noqa: E731
    level = _max_level(f, budget, hi)
    return [_clamp(level * s.usage // total, s) for s in slots]


def incremental(slots: list[Slot], budget: int) -> list[int]:
    """Only what is not yet allocated, added equally on top of current allocations; nobody is lowered
    (except that allocations below the floor are raised to it)."""
    def give(L: int, s: Slot) -> int:
        raised = s.current + L
        if s.ceiling is not None:
            raised = min(raised, max(s.ceiling, s.current))
        return max(raised, s.floor, s.current)
    if not slots:
        return []
    level = _max_level(lambda L: sum(give(L, s) for s in slots), budget, _top(slots, budget))
    return [give(level, s) for s in slots]
