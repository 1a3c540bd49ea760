"""Failure throttling stored in the database (holds across workers and restarts).

Within a window of THROTTLE_WINDOW_MINUTES: after THROTTLE_SLOW_AFTER failures each further attempt must
wait an increasing delay after the last failure (2, 4, 8 … s, at most 60 s); after THROTTLE_LOCK_AFTER
failures the key is locked for THROTTLE_LOCK_MINUTES. A success clears the key.
"""

from datetime import datetime, timedelta

from sqlmodel import Session, delete

from models import LoginThrottle, utcnow
from services import settings
from services.dialect import insert_for
from services.errors import Conflict


def delay_after(failures: int) -> int:
    """Seconds to wait after the last failure before the next attempt is heard."""
    excess = failures - settings.THROTTLE_SLOW_AFTER
    return 0 if excess < 0 else min(60, 2 ** (excess + 1))


def check(session: Session, keys: list[str], now: datetime | None = None) -> None:
    """Raise Conflict(retry_after=…) when any key is locked or must still wait."""
    now = now or utcnow()
    window = timedelta(minutes=settings.THROTTLE_WINDOW_MINUTES)
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is None:
            continue
        if row.locked_until and row.locked_until > now:
            wait = int((row.locked_until - now).total_seconds()) + 1
            raise Conflict(f"Too many failed attempts. Try again in {-(-wait // 60)} minutes.", retry_after=wait)
        if now - row.window_start > window:
            continue
        next_ok = row.last_failure_at + timedelta(seconds=delay_after(row.failures))
        if next_ok > now:
            wait = int((next_ok - now).total_seconds()) + 1
            raise Conflict(f"Too many failed attempts. Wait {wait} seconds and try again.", retry_after=wait)


def fail(session: Session, keys: list[str], now: datetime | None = None) -> None:
    """Count one failure on every key (atomic upsert), locking keys that reach the limit."""
    now = now or utcnow()
    window_start_cut = now - timedelta(minutes=settings.THROTTLE_WINDOW_MINUTES)
    for key in (k[:400] for k in keys):
        stmt = insert_for(session, LoginThrottle).values(
            key=key, failures=0, window_start=now, last_failure_at=now, locked_until=None)
        session.execute(stmt.on_conflict_do_nothing())
        row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        locked = row.locked_until is not None and row.locked_until > now
        if row.window_start < window_start_cut and not locked:
            row.failures, row.window_start, row.locked_until = 0, now, None
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= settings.THROTTLE_LOCK_AFTER and not locked:
            row.locked_until = now + timedelta(minutes=settings.THROTTLE_LOCK_MINUTES)
        session.add(row)
    session.flush()


def clear(session: Session, keys: list[str]) -> None:
    session.exec(delete(LoginThrottle).where(LoginThrottle.key.in_([k[:400] for k in keys])))
