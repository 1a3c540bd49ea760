"""services.gateway.ratelimit, database backend: exact inside a process, and across processes (two LocalCounter
instances on one database) the limit holds up to what the other process served since its last upsert."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models import RateWindow, utcnow
from services.core.errors import RateLimited
from services.gateway import ratelimit


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def hits(counter, engine, key_id, n, **kw) -> int:
    """Send up to n requests the way the API does (flush when told); returns how many were allowed."""
    ok = 0
    for _ in range(n):
        try:
            due = counter.hit(key_id, **kw)
        except RateLimited:
            continue
        ok += 1
        if due:
            counter.flush(engine, key_id)
    return ok


def stored(engine, key_id) -> int:
    with Session(engine) as s:
        return sum(w.hits for w in s.exec(select(RateWindow).where(RateWindow.key_id == key_id)).all())


def test_exact_within_one_process(engine):
    now = utcnow()
    c = ratelimit.LocalCounter(clock=Clock())
    assert hits(c, engine, 7, 8, now=now, limit=5, window=3600) == 5
    with pytest.raises(RateLimited) as err:
        c.hit(7, now=now, limit=5, window=3600)
    assert err.value.retry_after >= 1
    assert hits(c, engine, 8, 3, now=now, limit=5, window=3600) == 3  # another key has its own count
    later = ratelimit.window_start(now, 3600) + timedelta(hours=1, seconds=1)
    assert hits(c, engine, 7, 5, now=later, limit=5, window=3600) == 5  # a new window starts from zero


def test_two_processes_share_the_limit_through_the_database(engine):
    now, limit = utcnow(), 300
    clock = Clock()
    a, b = ratelimit.LocalCounter(clock=clock), ratelimit.LocalCounter(clock=clock)
    kw = dict(now=now, limit=limit, window=3600)
    assert hits(a, engine, 1, 200, **kw) == 200
    served_b = hits(b, engine, 1, 200, **kw)  # b learns a's count at its first upsert
    assert limit - 200 <= served_b <= limit - 200 + max(1, limit // 100)
    clock.t += ratelimit.FLUSH_SECONDS  # both upsert again and see the shared total
    extra = hits(a, engine, 1, 10, **kw) + hits(b, engine, 1, 10, **kw)
    a.flush(engine, 1), b.flush(engine, 1)
    total = stored(engine, 1)
    assert total == 200 + served_b + extra
    assert total <= limit + 2 * max(1, limit // 100)  # the documented bound: ≤ 1 % of the limit per process
    with pytest.raises(RateLimited):
        a.hit(1, **kw)
    with pytest.raises(RateLimited):
        b.hit(1, **kw)
