"""Activity Logs: keyset pagination.

Pages are newest first. A cursor is the (time, id) of a page's last row (audit trail: its chain `seq`, which
grows with time); "next" reads rows strictly before it, "prev" rows strictly after the first row — an index
range scan, never OFFSET, so page 1 and page 10,000 cost the same. Rows with equal timestamps are ordered by
id, so paging never skips or repeats a row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import tuple_, union_all
from sqlmodel import Session, select

from services.core.errors import Invalid

MAX_PAGE = 100


def encode_cursor(t: datetime | None, i: int) -> str:
    return f"{t.astimezone(UTC).isoformat(timespec='microseconds') if t else ''}|{i}"


def decode_cursor(cursor, with_time: bool) -> tuple[datetime | None, int]:
    if not isinstance(cursor, str) or len(cursor) > 80 or "|" not in cursor:
        raise Invalid("That page is no longer available; start from the first page.")
    t, _, i = cursor.partition("|")
    try:
        ident = int(i)
        when = datetime.fromisoformat(t) if with_time else None
    except ValueError:
        raise Invalid("That page is no longer available; start from the first page.") from None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when, ident


def page_size(limit) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"Page size must be between 1 and {MAX_PAGE}.", field="limit")
    return limit


def keyset_query(q, key_cols, cursor, direction, limit, with_time=True):
    """Apply the cursor and the order; returns (rows newest-first, has_more_in_that_direction)."""
    if direction not in ("next", "prev"):
        raise Invalid("Direction must be next or prev.")
    if cursor is not None:
        when, ident = decode_cursor(cursor, with_time)
        key = tuple_(*key_cols) if with_time else key_cols[-1]
        val = tuple_(when, ident) if with_time else ident
        q = q.where(key < val if direction == "next" else key > val)
    order = [c.desc() for c in key_cols] if direction == "next" or cursor is None else [c.asc() for c in key_cols]
    return q.order_by(*order).limit(limit + 1)


def check_cursor(cursor, direction, with_time: bool) -> None:
    if direction not in ("next", "prev"):
        raise Invalid("Direction must be next or prev.")
    if cursor is not None:
        decode_cursor(cursor, with_time)


def merged_keys(db: Session, queries: list, key_cols: list, cursor, direction, limit, with_time=True):
    """The keys of one keyset page over several queries that each use their own index: UNION ALL of their pages
    (each already in order and limited), then the first limit + 1 keys, as a subquery to join the rows to."""
    arms = [keyset_query(q, key_cols, cursor, direction, limit, with_time).subquery() for q in queries]
    u = union_all(*[select(*a.c) for a in arms]).subquery()
    names = [c.key for c in key_cols]
    asc = cursor is not None and direction == "prev"
    return (select(*u.c).order_by(*[u.c[n].asc() if asc else u.c[n].desc() for n in names])
            .limit(limit + 1).subquery())


def finish_page(rows, direction, cursor, limit, key) -> tuple[list, str | None, str | None]:
    more = len(rows) > limit
    rows = list(rows[:limit])
    backwards = cursor is not None and direction == "prev"
    if backwards:
        rows.reverse()
    if not rows:
        return rows, None, None
    has_next = more if not backwards else True
    has_prev = (cursor is not None) if not backwards else more
    return rows, (key(rows[-1]) if has_next else None), (key(rows[0]) if has_prev else None)
