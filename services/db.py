"""Engines and sessions for the services (independent of Reflex's own engine).

SQLite: WAL, a busy timeout and `BEGIN IMMEDIATE` for every writing transaction, so concurrent writers queue
up instead of failing on a lock upgrade; `read_scope()` opens plain deferred transactions for pages that only
read. PostgreSQL: a normal pooled engine; rules that must be exact under
concurrency use conditional UPDATEs, ON CONFLICT or row locks.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from services import settings


def _sqlite_setup(engine: Engine) -> None:
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
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


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
