"""Per-API-key request rate: at most GATEWAY_RATE_LIMIT requests per GATEWAY_RATE_WINDOW_SECONDS (fixed
windows). Counted in Redis when REFLEX_REDIS_URL is set (INCR + EXPIRE), else in the database (one upsert
per request on `rate_window`), so the limit holds across workers and app instances."""

from datetime import datetime, timedelta, timezone
from functools import lru_cache

from sqlmodel import Session, delete

from models import RateWindow, utcnow
from services import settings
from services.dialect import insert_for
from services.errors import RateLimited


def window_start(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=timezone.utc)


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2)


def _backend() -> str:
    choice = settings.GATEWAY_RATE_BACKEND
    if choice == "auto":
        return "redis" if settings.redis_url() else "db"
    return choice


def _hits_db(session: Session, key_id: int, start: datetime, seconds: int) -> int:
    stmt = insert_for(session, RateWindow).values(key_id=key_id, window_start=start, hits=1)
    stmt = stmt.on_conflict_do_update(index_elements=["key_id", "window_start"],
                                      set_={"hits": RateWindow.hits + 1}).returning(RateWindow.hits)
    hits = int(session.execute(stmt).scalar())
    if hits == 1:  # first request of a window: drop this key's old windows
        session.exec(delete(RateWindow).where(RateWindow.key_id == key_id,
                                              RateWindow.window_start < start - timedelta(seconds=seconds)))
    return hits


def _hits_redis(key_id: int, start: datetime, seconds: int) -> int:
    r = _redis(settings.redis_url())
    name = f"steward:rate:{key_id}:{int(start.timestamp())}"
    pipe = r.pipeline()
    pipe.incr(name)
    pipe.expire(name, seconds * 2)
    return int(pipe.execute()[0])


def hit(session: Session, key_id: int, *, now: datetime | None = None, limit: int | None = None,
        window: int | None = None) -> int:
    """Count one request of the key; raise RateLimited (429, with Retry-After) above the limit."""
    now = now or utcnow()
    limit = settings.GATEWAY_RATE_LIMIT if limit is None else limit
    seconds = max(1, settings.GATEWAY_RATE_WINDOW_SECONDS if window is None else window)
    start = window_start(now, seconds)
    hits = _hits_redis(key_id, start, seconds) if _backend() == "redis" else _hits_db(session, key_id, start, seconds)
    if hits > limit:
        retry = max(1, int((start + timedelta(seconds=seconds) - now).total_seconds() + 0.999))
        raise RateLimited(f"Rate limit of {limit} requests per {seconds} s exceeded for this API key.",
                          retry_after=retry)
    return hits
