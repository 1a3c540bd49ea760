"""How the pages write numbers, dates and missing values — one place, so every page says it the same way:
thousands separators, "Jan 13, 2027" for a day, "2026-12-04 20:23 UTC" for a moment (times are UTC and say so),
"—" for nothing."""

from datetime import date, datetime

EMPTY = "—"


def number(n: int | None) -> str:
    return EMPTY if n is None else f"{n:,}"


def limit(n: int | None) -> str:
    """A cap that may be absent: no cap is "Unlimited"."""
    return "Unlimited" if n is None else f"{n:,}"


def day(d: date | datetime | None) -> str:
    return EMPTY if d is None else f"{d:%b %-d, %Y}"


def iso_day(d: date | datetime | None) -> str:
    return EMPTY if d is None else f"{d:%Y-%m-%d}"


def moment(t: datetime | None) -> str:
    return EMPTY if t is None else f"{t:%Y-%m-%d %H:%M} UTC"
