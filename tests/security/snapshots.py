"""Table-by-table snapshots of the app's database, whole or restricted to a victim's rows."""

from __future__ import annotations

from sqlalchemy import MetaData, or_, select

# The guard resolves the session of every event; `services.auth.sessions.resolve` refreshes `last_seen_at` at
# most once a minute (the idle timeout needs it). That is the only write a denied call may cause.
IGNORED_COLUMNS = {("auth_session", "last_seen_at")}


_TABLES: dict[str, list] = {}


def _tables(engine):
    key = str(engine.url)
    if key not in _TABLES:
        md = MetaData()
        md.reflect(engine)
        _TABLES[key] = [t for t in md.sorted_tables if t.name != "alembic_version"]
    return _TABLES[key]


def _select(t):
    cols = [c for c in t.columns if (t.name, c.name) not in IGNORED_COLUMNS]
    return select(*cols).order_by(*t.primary_key.columns)


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table (like tests/conftest.py::snapshot)."""
    out = {}
    with engine.connect() as conn:
        for t in _tables(engine):
            out[t.name] = [tuple(r) for r in conn.execute(_select(t)).all()]
    return out


def victim_snapshot(engine, user_ids: set[int], org_ids: set[int]) -> dict[str, list[tuple]]:
    """Only the rows that belong to the victims: their users and orgs, and every row pointing at them
    through `user_id` / `org_id`."""
    out = {}
    with engine.connect() as conn:
        for t in _tables(engine):
            conds = []
            if t.name == "app_user":
                conds.append(t.c.id.in_(user_ids))
            if t.name == "organization":
                conds.append(t.c.id.in_(org_ids))
            if "user_id" in t.c:
                conds.append(t.c.user_id.in_(user_ids))
            if "org_id" in t.c:
                conds.append(t.c.org_id.in_(org_ids))
            if conds:
                out[t.name] = [tuple(r) for r in conn.execute(_select(t).where(or_(*conds))).all()]
    return out


def diff(before: dict, after: dict) -> dict[str, tuple[list, list]]:
    """Table -> (rows gone, rows new) for every table that changed."""
    out = {}
    for name in sorted(set(before) | set(after)):
        b, a = {repr(r) for r in before.get(name, [])}, {repr(r) for r in after.get(name, [])}
        if a != b:
            out[name] = (sorted(b - a), sorted(a - b))
    return out
