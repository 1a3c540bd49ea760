"""Engines and sessions for the services (independent of Reflex's own engine).

SQLite: WAL, a busy timeout and `BEGIN IMMEDIATE` for every writing transaction, so concurrent writers queue
up instead of failing on a lock upgrade; `read_scope()` opens plain deferred transactions for pages that only
read. Within the process, writers take turns first-come first-served (`_WriteTurns`): SQLite's own busy wait
retries at most every 100 ms, so a writer that commits and begins again at once (a CSV import's batches, the
gateway's group commit under load) would otherwise keep the single write lock while others wait for seconds.
PostgreSQL: a normal pooled engine; rules that must be exact under concurrency use conditional UPDATEs, ON CONFLICT
or row locks.
"""

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from services.core import settings


class _WriteTurns:
    """First come, first served among this process's SQLite write transactions. A writer that waited
    TURN_TIMEOUT seconds goes ahead anyway and leaves the rest to SQLite's busy timeout (as before)."""

    TURN_TIMEOUT = 30.0

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._queue: deque[object] = deque()
        self._busy = False

    def acquire(self) -> bool:
        me = object()
        deadline = time.monotonic() + self.TURN_TIMEOUT
        with self._cv:
            self._queue.append(me)
            while self._busy or self._queue[0] is not me:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queue.remove(me)
                    self._cv.notify_all()
                    return False
                self._cv.wait(left)
            self._queue.popleft()
            self._busy = True
            return True

    def release(self) -> None:
        with self._cv:
            self._busy = False
            self._cv.notify_all()


def _sqlite_setup(engine: Engine) -> None:
    turns = _WriteTurns()

    def _end(conn) -> None:
        if conn.info.pop("steward_write_turn", False):
            turns.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let us emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        deferred = conn.get_execution_options().get("read_only", False)
        if not deferred:
            conn.info["steward_write_turn"] = turns.acquire()
        try:
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")
        except BaseException:
            _end(conn)
            raise

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):  # a safety net: a connection back in the pool holds no turn
        if record is not None and record.info.pop("steward_write_turn", False):
            turns.release()


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or settings.db_url())


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for reading only: on SQLite it does not take the write lock (WAL readers never block)."""
    bind = (engine or get_engine()).execution_options(read_only=True)
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"
