"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from collections.abc import Callable

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

_BUILT: dict[tuple[str, object], object] = {}


def insert_for(session: Session, table):
    """An INSERT supporting ON CONFLICT for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def built(session: Session, key, build: Callable):
    """A statement built once per database kind: `build(insert)` gets that dialect's `insert` (hot paths reuse
    the statement, so SQLAlchemy neither rebuilds the expression nor recomputes its cache key)."""
    name = session.get_bind().dialect.name
    stmt = _BUILT.get((name, key))
    if stmt is None:
        stmt = _BUILT[(name, key)] = build(postgresql.insert if name == "postgresql" else sqlite.insert)
    return stmt
