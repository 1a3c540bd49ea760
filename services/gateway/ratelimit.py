"""Per-API-key request rate: at most GATEWAY_RATE_LIMIT requests per GATEWAY_RATE_WINDOW_SECONDS (fixed
windows).

- Redis (REFLEX_REDIS_URL set, or GATEWAY_RATE_BACKEND=redis): INCR + EXPIRE per request, exact across
  workers and app instances.
- Database (the default without Redis): each process counts its own requests in memory (exact within the
  process) and adds them to the key's `rate_window` row in one upsert at least once a second and every 1 %
  of the limit, reading back the total of every process. So no request waits for a write lock, and across N
  worker processes the limit can be exceeded by at most what the other workers served since this one's last
  upsert (≤ 1 s, ≤ 1 % of the limit each).
"""

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import redis
from sqlmodel import Session, col, delete

from models import RateWindow, utcnow
from services.core import settings
from services.core.db import session_scope
from services.core.dialect import insert_for
from services.core.errors import RateLimited

FLUSH_SECONDS = 1.0


def window_start(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


@lru_cache(maxsize=4)
def _redis(url: str):
    return redis.Redis.from_url(url, socket_timeout=2)


def backend() -> str:
    choice = settings.GATEWAY_RATE_BACKEND
    if choice == "auto":
        return "redis" if settings.redis_url() else "db"
    return choice


def _limits(limit: int | None, window: int | None) -> tuple[int, int]:
    return (settings.GATEWAY_RATE_LIMIT if limit is None else limit,
            max(1, settings.GATEWAY_RATE_WINDOW_SECONDS if window is None else window))


def _refuse(limit: int, seconds: int, start: datetime, now: datetime) -> RateLimited:
    retry = max(1, int((start + timedelta(seconds=seconds) - now).total_seconds() + 0.999))
    return RateLimited(f"Rate limit of {limit} requests per {seconds} s exceeded for this API key.", retry_after=retry)


def add_hits(session: Session, key_id: int, start: datetime, seconds: int, n: int) -> int:
    """Add n requests to the key's window row; returns the window's total (every process)."""
    stmt = insert_for(session, RateWindow).values(key_id=key_id, window_start=start, hits=n)
    stmt = stmt.on_conflict_do_update(index_elements=["key_id", "window_start"],
                                      set_={"hits": RateWindow.hits + n}).returning(RateWindow.hits)
    hits = int(session.execute(stmt).scalar_one())  # the upsert returns its one row
    if hits == n:  # first write of a window: drop this key's old windows
        session.exec(delete(RateWindow).where(col(RateWindow.key_id) == key_id,
                                              col(RateWindow.window_start) < start - timedelta(seconds=seconds)))
    return hits


def hit_redis(key_id: int, *, now: datetime | None = None, limit: int | None = None, window: int | None = None) -> int:
    now = now or utcnow()
    limit, seconds = _limits(limit, window)
    start = window_start(now, seconds)
    pipe = _redis(settings.redis_url()).pipeline()
    pipe.incr(f"steward:rate:{key_id}:{int(start.timestamp())}")
    pipe.expire(f"steward:rate:{key_id}:{int(start.timestamp())}", seconds * 2)
    hits = int(pipe.execute()[0])
    if hits > limit:
        raise _refuse(limit, seconds, start, now)
    return hits


@dataclass
class _Window:
    start: datetime
    seconds: int
    shared: int = 0  # the window's total in the DB as of our last upsert (ours included)
    pending: int = 0  # our requests not yet added to the DB
    flushed_at: float = 0.0
    flushing: bool = False


class LocalCounter:
    """The database backend's per-process counts (see the module doc)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[int, _Window] = {}

    def hit(self, key_id: int, *, now: datetime | None = None, limit: int | None = None,
            window: int | None = None) -> bool:
        """Count one request (RateLimited above the limit). True when this process should add its counts to
        the database now (`flush`)."""
        now = now or utcnow()
        limit, seconds = _limits(limit, window)
        start = window_start(now, seconds)
        with self._lock:
            w = self._windows.get(key_id)
            if w is None or w.start != start or w.seconds != seconds:
                w = self._windows[key_id] = _Window(start, seconds)
            if w.shared + w.pending + 1 > limit:
                raise _refuse(limit, seconds, start, now)
            w.pending += 1
            due = not w.flushing and (w.pending >= max(1, limit // 100)
                                      or self.clock() - w.flushed_at >= FLUSH_SECONDS)
            if due:
                w.flushing = True
            return due

    def flush(self, engine, key_id: int) -> None:
        """Add this process's pending count of the key to the database and learn every process's total."""

        with self._lock:
            w = self._windows.get(key_id)
            if w is None:
                return
            n = w.pending
        try:
            with session_scope(engine) as db:
                total = add_hits(db, key_id, w.start, w.seconds, n)
            with self._lock:
                w.pending -= n
                w.shared = total
        finally:
            w.flushing = False
            w.flushed_at = self.clock()

