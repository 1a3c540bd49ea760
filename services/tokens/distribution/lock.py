"""One distribution run per org at a time: a row in `distribution_lock` while a run holds it.

PostgreSQL: the row is inserted and committed on a separate connection before the run starts, so every other
transaction sees it; the run deletes it in its own transaction (a crashed run's row expires). SQLite: a
writing transaction already holds the database's single write lock (BEGIN IMMEDIATE), so the row is written
inside the run's transaction. Allocation edits and approvals call `ensure_unlocked` first and get a Conflict
("distribution in progress — retry in N s") while the row is live.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from models import DistributionLock, table_of, utcnow
from services.core.db import is_sqlite
from services.core.dialect import insert_for
from services.core.errors import Conflict


def estimate_seconds(n_users: int) -> int:
    """How long a run may hold the lock (also the stale-lock expiry): 30 s plus 1 s per 500 users."""
    return 30 + n_users // 500


def _busy(expires_at: datetime, now: datetime) -> Conflict:
    wait = max(1, math.ceil((expires_at - now).total_seconds()))
    return Conflict(f"Distribution in progress — retry in {wait} s.", retry_after=wait)


def ensure_unlocked(session: Session, org_id: int | None, now: datetime | None = None) -> None:
    """Raise Conflict while a live distribution run holds the org's lock (a user without an org has none)."""
    if org_id is None:
        return
    now = now or utcnow()
    row = session.exec(select(DistributionLock).where(DistributionLock.org_id == org_id)).first()
    if row is not None and row.expires_at > now:
        raise _busy(row.expires_at, now)


def _try_acquire(session: Session, org_id: int, holder_id: int | None, now: datetime, ttl: int) -> None:
    expires = now + timedelta(seconds=ttl)
    values = dict(org_id=org_id, holder_id=holder_id, acquired_at=now, expires_at=expires)
    table = table_of(DistributionLock)
    got = len(session.execute(insert_for(session, table).values(**values)
                              .on_conflict_do_nothing(index_elements=["org_id"]).returning(table.c.org_id)).all())
    if got != 1:  # a row exists: take it over only if it expired (a crashed run)
        got = session.exec(update(DistributionLock).where(col(DistributionLock.org_id) == org_id,
                                                             col(DistributionLock.expires_at) <= now)
                              .values(**values)).rowcount
    if got != 1:
        row = session.exec(select(DistributionLock).where(DistributionLock.org_id == org_id)).first()
        raise _busy(row.expires_at if row else expires, now)


def set_run_id(session: Session, org_id: int, run_id: int) -> None:
    session.execute(update(DistributionLock).where(col(DistributionLock.org_id) == org_id).values(run_id=run_id))


@contextmanager
def run_lock(session: Session, org_id: int, *, holder_id: int | None, n_users: int,
             now: datetime | None = None) -> Iterator[None]:
    """Hold the org's run lock for the body; the body's transaction releases it on success."""
    now = now or utcnow()
    ttl = estimate_seconds(n_users)
    if is_sqlite(session):
        _try_acquire(session, org_id, holder_id, now, ttl)
        yield
        session.execute(delete(DistributionLock).where(col(DistributionLock.org_id) == org_id))
        return
    with Session(session.get_bind()) as side:  # committed at once: visible to every other transaction
        _try_acquire(side, org_id, holder_id, now, ttl)
        side.commit()
    try:
        yield
        session.execute(delete(DistributionLock).where(col(DistributionLock.org_id) == org_id))
    except BaseException:
        with Session(session.get_bind()) as side:
            side.execute(delete(DistributionLock).where(col(DistributionLock.org_id) == org_id,
                                                        col(DistributionLock.acquired_at) == now))
            side.commit()
        raise
