"""Usage recording: the append-only ledger and its rollups, written in one transaction, set-based.

An event is checked in plain Python first (services/usage/event_checks.py `check_events`: no query), then the users
and models a whole batch names are resolved with one IN query each (`resolve`), the new events land with one
multi-row INSERT … ON CONFLICT DO NOTHING RETURNING (`insert_new`), the keys it skipped (retries, or keys a
concurrent transaction recorded first) are looked up with one query, and the rollups get one upsert per
table. A retried idempotency key is acknowledged with the first report's event id and billed tokens and
changes nothing; a key reused for a different event is a Conflict (services/gateway/idempotency.py)."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, Table, bindparam, func, select
from sqlmodel import Session, col

from models import INT64_MAX, AIModel, UsageEvent, User, table_of
from models.catalog import RATE_SCALE
from services.core.actor import Actor
from services.core.errors import DomainError, Invalid, NotFound
from services.usage import rollups
from services.usage.event_checks import EventError, Pending, event_errors, user_ref

GATEWAY = "gateway"
_UTC = UTC


def gateway_actor(org_id: int) -> Actor:
    """The GenAI gateway acting for one org (an authenticated API key)."""
    return Actor(user_id=None, role=GATEWAY, org_id=org_id, email="gateway")


def billed_tokens(model, prompt: int, completion: int) -> int:
    """Billed tokens from the model's conversion rates, rounded up; integer arithmetic only."""
    scaled = prompt * model.prompt_rate_milli + completion * model.completion_rate_milli
    return -(-scaled // RATE_SCALE)


@dataclass
class Recorded:
    idempotency_key: str
    event_id: int | None
    duplicate: bool
    billed_tokens: int


# ------------------------------------------------------------------------------------------ set-based lookups
_LIST: BindParameter[list[Any]] = bindparam("values", expanding=True)
_USER_QUERIES: dict[tuple, tuple] = {}


def _user_queries(cols: tuple) -> tuple:
    """(by id, by email as stored, by lower(email)) selects of (id, org_id, email, *cols), built once."""
    if cols not in _USER_QUERIES:
        q = select(col(User.id), col(User.org_id), col(User.email), *cols)
        _USER_QUERIES[cols] = (q.where(col(User.id).in_(_LIST)), q.where(col(User.email).in_(_LIST)),
                               q.where(func.lower(col(User.email)).in_(_LIST)))
    return _USER_QUERIES[cols]


def users_by_ref(session: Session, refs, *cols) -> dict:
    """{id or lower-cased email: row (id, org_id, email, *cols)} for the users named, in one or two queries
    (a third, case-insensitive one only for emails not found as stored)."""
    ids = [r for r in refs if isinstance(r, int)]
    emails = {r for r in refs if isinstance(r, str)}
    by_id, by_email, by_lower = _user_queries(cols)
    conn = session.connection()
    out: dict = {}
    if ids:
        for row in conn.execute(by_id, {"values": ids}):
            out[row[0]] = row
    if emails:
        for row in conn.execute(by_email, {"values": list(emails)}):
            out[row[2].lower()] = row
        missing = emails - out.keys()
        if missing:  # an email stored with capitals: the case-insensitive scan, only for these
            for row in conn.execute(by_lower, {"values": list(missing)}):
                out[row[2].lower()] = row
    return out


_MODELS = select(col(AIModel.name), col(AIModel.id), col(AIModel.prompt_rate_milli),
                 col(AIModel.completion_rate_milli), col(AIModel.enabled)).where(col(AIModel.name).in_(_LIST))


def models_by_name(session: Session, names) -> dict[str, tuple]:
    """{name: (id, prompt rate, completion rate, enabled)} in one query."""
    if not names:
        return {}
    rows = session.connection().execute(_MODELS, {"values": list(set(names))})
    return {name: (mid, p, c, bool(en)) for name, mid, p, c, en in rows}


def resolve(session: Session, org_id: int, pending: list[Pending], users: dict, models: dict) -> list[EventError]:
    """Fill in user, model and billed tokens from the looked-up rows; returns the errors (index, field, message,
    class) of events naming an unknown (or another org's) user or model, or billing beyond 64 bits."""
    errors: list[EventError] = []
    for p in pending:
        u = users.get(p.user_ref)
        if u is None or u[1] != org_id:
            errors.append((p.index, "user", f"Unknown user {p.user_ref!r}.", NotFound))
            continue
        m = models.get(p.model_name)
        if m is None:
            errors.append((p.index, "model", f"Unknown model {p.model_name!r}.", NotFound))
            continue
        billed = -(-(p.prompt_tokens * m[1] + p.completion_tokens * m[2]) // RATE_SCALE)
        if billed > INT64_MAX:
            errors.append((p.index, "billed_tokens", "Billed tokens is too large.", Invalid))
            continue
        p.org_id, p.user_id, p.model_id, p.billed_tokens = org_id, u[0], m[0], billed
    return errors


_T: Table = table_of(UsageEvent)
_EXISTING = select(_T.c.idempotency_key, _T.c.id, _T.c.billed_tokens, _T.c.user_id, _T.c.kind, _T.c.org_id,
                   _T.c.model_id, _T.c.prompt_tokens, _T.c.completion_tokens, _T.c.occurred_at, _T.c.ip).where(
    _T.c.idempotency_key.in_(_LIST))
_UNDO = _T.delete().where(_T.c.id.in_(_LIST))


def existing(session: Session, keys) -> dict[str, tuple]:
    """{idempotency key: (event id, billed tokens, user id, kind, org id, model id, prompt tokens, completion
    tokens, occurred_at, ip)} of the keys already in the ledger."""
    if not keys:
        return {}
    rows = session.connection().execute(_EXISTING, {"values": list(keys)})
    return {row[0]: tuple(row[1:]) for row in rows}


# The ledger INSERT goes straight to the driver, without SQLAlchemy's per-row parameter processing (which
# was half of a batch's CPU time): on SQLite one multi-row VALUES statement per 1,000 rows (what
# insertmanyvalues would send); on PostgreSQL one INSERT … SELECT over json_array_elements(<the rows as one
# JSON parameter>): a 1,000-row VALUES list costs PostgreSQL more to parse and plan than the insert, and
# per-value adaptation (VALUES, or unnest over arrays) costs this process five times the CPU of one
# json.dumps. Times are aware UTC already: SQLite gets the text SQLAlchemy writes ("YYYY-MM-DD
# HH:MM:SS.ffffff", UTC, no offset), PostgreSQL ISO 8601 with its offset (timestamptz).
# tests/services/test_usage_ledger.py reads every stored row back through the models.
_INSERT_COLS = ("idempotency_key", "org_id", "user_id", "model_id", "kind", "prompt_tokens", "completion_tokens",
                "billed_tokens", "occurred_at", "ip", "recorded_at")
_PAGE = 1000
_PG_CASTS = ("", "::int", "::int", "::int", "", "::bigint", "::bigint", "::bigint", "::timestamptz", "",
             "::timestamptz")
_ON_CONFLICT = " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key, id"
_PG_INSERT = (f"INSERT INTO usage_event ({', '.join(_INSERT_COLS)}) SELECT "
              + ", ".join(f"(x->>{i}){cast}" for i, cast in enumerate(_PG_CASTS))
              + " FROM json_array_elements(%s::json) AS x" + _ON_CONFLICT)


@lru_cache(maxsize=64)
def _sqlite_insert(rows: int) -> str:
    one = "(" + ", ".join(["?"] * len(_INSERT_COLS)) + ")"
    return f"INSERT INTO usage_event ({', '.join(_INSERT_COLS)}) VALUES {', '.join([one] * rows)}" + _ON_CONFLICT


def _values(p: "Pending", when, recorded) -> tuple:
    return (p.idempotency_key, p.org_id, p.user_id, p.model_id, p.kind, p.prompt_tokens, p.completion_tokens,
            p.billed_tokens, when(p.occurred_at), p.ip, recorded)


def sqlite_text(t: datetime) -> str:
    """An aware datetime as SQLAlchemy stores it in SQLite: UTC text without offset, with microseconds."""
    return t.astimezone(_UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def insert_new(session: Session, rows: list[Pending], now: datetime) -> dict[str, int]:
    """Multi-row INSERT … ON CONFLICT DO NOTHING RETURNING: {key: new id} of the rows that landed (in key
    order, so concurrent transactions on PostgreSQL take index locks in the same order)."""
    if not rows:
        return {}
    conn = session.connection()
    rows = sorted(rows, key=lambda p: p.idempotency_key)
    text: dict[datetime, str] = {}
    if conn.dialect.name != "sqlite":
        when = lambda t: text.get(t) or text.setdefault(t, t.isoformat())  # noqa: E731 (few distinct times)
        data = json.dumps([_values(p, when, when(now)) for p in rows], separators=(",", ":"))
        return dict(conn.exec_driver_sql(_PG_INSERT, (data,)).all())
    when = lambda t: text.get(t) or text.setdefault(t, sqlite_text(t))  # noqa: E731
    recorded = when(now)
    out: dict[str, int] = {}
    for start in range(0, len(rows), _PAGE):
        page = rows[start:start + _PAGE]
        flat: list = []
        for p in page:
            flat += _values(p, when, recorded)
        out.update(conn.exec_driver_sql(_sqlite_insert(len(page)), tuple(flat)).all())
    return out


def with_lookups(session: Session, org_id: int, events: list, exc: DomainError) -> DomainError:
    """A rejected batch's error, completed with the unknown users and models of every event (also of events
    that failed other checks), so that one answer names every bad field. Only runs on the error path."""
    errors = list(getattr(exc, "event_errors", ()))
    if not errors or not isinstance(events, list):
        return exc
    reported = {(i, f) for i, f, *_ in errors}
    raws = [(i, raw) for i, raw in enumerate(events) if isinstance(raw, dict)]
    refs = {}
    for i, raw in raws:
        scratch: list = []
        ref = user_ref(raw.get("user"), scratch, i)
        refs[i] = None if scratch or (isinstance(ref, str) and "\x00" in ref) else ref
    users = users_by_ref(session, {r for r in refs.values() if r is not None})
    names = {raw["model"].strip() for _, raw in raws
             if isinstance(raw.get("model"), str) and "\x00" not in raw["model"]}
    models = models_by_name(session, names - {""})
    added = []
    for i, raw in raws:
        ref, name = refs[i], raw.get("model")
        if ref is not None and (i, "user") not in reported and (users.get(ref) is None or users[ref][1] != org_id):
            added.append((i, "user", f"Unknown user {ref!r}.", NotFound))
        if (isinstance(name, str) and name.strip() in names and (i, "model") not in reported
                and name.strip() not in models):
            added.append((i, "model", f"Unknown model {name.strip()!r}.", NotFound))
    if not added:
        return exc
    return event_errors(sorted(errors + added, key=lambda e: e[0]))


def insert(session: Session, pending: list[Pending], now: datetime, prior: dict | None = None) -> tuple[dict, dict]:
    """Ledger rows (not yet the rollups: `add_to_rollups`) for resolved events with distinct keys: ({key: new
    event id}, {key: ledger row} of the keys that were already there). `prior` holds keys the caller already
    looked up (`existing`); the others are simply inserted, and the few that ON CONFLICT skips (retries, or
    a concurrent transaction that recorded them first) are looked up afterwards — one query, only when there
    are any. The caller compares those with its events (services/gateway/idempotency.py) before going on."""
    prior = {} if prior is None else prior
    new = [p for p in pending if p.idempotency_key not in prior]
    ids = insert_new(session, new, now)
    skipped = [p.idempotency_key for p in new if p.idempotency_key not in ids]
    if skipped:
        prior = {**prior, **existing(session, skipped)}
    return ids, prior


def add_to_rollups(session: Session, pending: list[Pending], ids: dict[str, int]) -> None:
    """The rollups of the events `insert` added (keys in `ids`)."""
    rollups.apply(session, [p for p in pending if p.idempotency_key in ids])


def undo(session: Session, ids: dict[str, int]) -> None:
    """Take back ledger rows `insert` added in this transaction (before any rollup counted them): a request
    rejected after its insert leaves nothing behind, even if the caller commits."""
    if ids:
        session.connection().execute(_UNDO, {"values": list(ids.values())})


def bulk_load(session: Session, events: list[UsageEvent]) -> int:
    """Insert many trusted events at once (demo seed, benchmarks) and add them to the rollups."""
    if not events:
        return 0
    cols = [c.name for c in _T.columns if c.name != "id"]
    session.execute(_T.insert(), [{c: getattr(e, c) for c in cols} for e in events])
    rollups.apply(session, events)
    return len(events)
