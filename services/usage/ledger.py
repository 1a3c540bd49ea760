"""Usage recording: the append-only ledger and its rollups, written in one transaction, set-based.

An event is checked in plain Python first (`check_events`: types, ranges, times — no query), then the users
and models a whole batch names are resolved with one IN query each (`resolve`), the new events land with one
multi-row INSERT … ON CONFLICT DO NOTHING RETURNING (`insert_new`), the keys it skipped (retries, or keys a
concurrent transaction recorded first) are looked up with one query, and the rollups get one upsert per
table. A retried idempotency key is acknowledged with the first report's event id and billed tokens and
changes nothing; a key reused for a different event is a Conflict (services/gateway/idempotency.py)."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from models import INT64_MAX, AIModel, UsageEvent, User
from models.catalog import RATE_SCALE
from services.core import validation
from services.core.actor import Actor
from services.core.errors import Conflict, DomainError, Invalid, NotFound
from services.usage import rollups

MAX_BATCH = 1000
MAX_KEY = 200
FUTURE_SKEW = timedelta(minutes=5)  # occurred_at may be at most this far ahead of the server's clock …
MAX_AGE = timedelta(days=400)  # … and at most this far behind it
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


@dataclass(slots=True)
class Pending:
    """One usage event that passed the plain-Python checks; `resolve` fills in the ids and billed tokens.
    It has the attributes `rollups.apply` reads."""

    index: int
    idempotency_key: str
    user_ref: int | str  # a user id, or a lower-cased email
    model_name: str
    prompt_tokens: int
    completion_tokens: int
    kind: str
    occurred_at: datetime
    ip: str
    reservation_id: str | None
    org_id: int = 0
    user_id: int = 0
    model_id: int = 0
    billed_tokens: int = 0
    time_given: bool = True  # occurred_at / ip were sent (a retry is compared on them only then)
    ip_given: bool = True


def event_errors(errors: list[tuple[int, str | None, str, type]]) -> DomainError:
    """One domain error carrying every (event index, field or None, message, error class) as `event_errors`;
    it is of the first malformed field's class, message and field (Invalid), or if none is malformed of the
    first one's (NotFound for an unknown user, model or reservation; Conflict), so callers that look at one
    error see the usual domain error."""
    i, field, message, cls = next((e for e in errors if issubclass(e[3], Invalid)), errors[0])
    exc = cls(message, field=field)
    exc.event_errors = list(errors)
    return exc


def _tokens(value, field: str, errors: list, i: int) -> int:
    if type(value) is int and 0 <= value <= INT64_MAX:
        return value
    try:
        return validation.token_amount(value, field)
    except Invalid as e:
        errors.append((i, field, e.message, Invalid))
        return 0


def _when(value, now: datetime, errors: list, i: int) -> datetime:
    if value is None or value == "":
        return now
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        errors.append((i, "occurred_at", "occurred_at must be an ISO 8601 time.", Invalid))
        return now
    try:
        value = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    except OverflowError:  # before year 1 or after 9999 in UTC (0001-01-01T00:00+05:00, 9999-12-31T23:00-05:00)
        value = (datetime.max if value.utcoffset() < timedelta(0) else datetime.min).replace(tzinfo=_UTC)
    if value > now + FUTURE_SKEW:
        errors.append((i, "occurred_at", "occurred_at is more than 5 minutes in the future.", Invalid))
    elif value < now - MAX_AGE:
        errors.append((i, "occurred_at", f"occurred_at is more than {MAX_AGE.days} days in the past.", Invalid))
    return value


def _user_ref(ref, errors: list, i: int):
    ref = validation.json_int(ref)
    if isinstance(ref, bool):
        ref = None
    if isinstance(ref, int):
        if not 0 < ref <= INT64_MAX:
            errors.append((i, "user", f"Unknown user {ref!r}.", NotFound))
        return ref
    if isinstance(ref, str) and "@" in ref:
        return ref.strip().lower()
    errors.append((i, "user", "User must be a user id or an email.", Invalid))
    return 0


def check_event(i: int, raw, now: datetime, errors: list) -> Pending | None:
    """The plain-Python checks of one event (no query); problems are appended to `errors`."""
    if not isinstance(raw, dict):
        errors.append((i, None, "Each usage event must be an object.", Invalid))
        return None
    before = len(errors)
    key = raw.get("idempotency_key")
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        errors.append((i, "idempotency_key", f"idempotency_key is required (1–{MAX_KEY} characters).", Invalid))
        key = ""
    user = _user_ref(raw.get("user"), errors, i)
    model = raw.get("model")
    if not isinstance(model, str) or not model.strip():
        errors.append((i, "model", "Model is required.", Invalid))
        model = ""
    prompt = _tokens(raw.get("prompt_tokens", 0), "prompt_tokens", errors, i)
    completion = _tokens(raw.get("completion_tokens", 0), "completion_tokens", errors, i)
    kind = raw.get("kind", "tokens")
    if kind != "tokens" and kind != "training":
        errors.append((i, "kind", "Kind must be 'tokens' or 'training'.", Invalid))
    when = _when(raw.get("occurred_at"), now, errors, i)
    ip = raw.get("ip", "")
    if type(ip) is not str or len(ip) > 45:
        try:
            ip = validation.text(ip, "ip", max_len=45)
        except Invalid as e:
            errors.append((i, "ip", e.message, Invalid))
    rid = raw.get("reservation_id")
    if rid is not None and (not isinstance(rid, str) or not 1 <= len(rid) <= 40):
        errors.append((i, "reservation_id", "reservation_id must be a reservation id.", Invalid))
    for field, value in (("idempotency_key", key), ("user", user), ("model", model), ("ip", ip),
                         ("reservation_id", rid)):
        if type(value) is str and "\x00" in value:  # PostgreSQL refuses NUL in text: a 422, not a failed write
            errors.append((i, field, f"{field} must not contain NUL characters.", Invalid))
    if len(errors) > before:
        return None
    return Pending(i, key.strip(), user, model.strip(), prompt, completion, kind, when, ip.strip(), rid,
                   time_given=raw.get("occurred_at") not in (None, ""), ip_given=raw.get("ip") is not None)


def check_events(events, now: datetime) -> list[Pending]:
    """Every event checked in plain Python; raises the first problem carrying all of them (`event_errors`)."""
    if not isinstance(events, list) or not events:
        raise Invalid("Send at least one usage event.")
    if len(events) > MAX_BATCH:
        raise Invalid(f"A batch holds at most {MAX_BATCH:,} events.")
    errors: list = []
    out = [check_event(i, raw, now, errors) for i, raw in enumerate(events)]
    seen: dict[str, int] = {}
    rids: set[str] = set()
    for p in out:  # well-formed events that together reuse a key or a reservation: conflicts (409)
        if p is None:
            continue
        if p.idempotency_key in seen:
            errors.append((p.index, "idempotency_key", f"The batch repeats idempotency_key {p.idempotency_key!r} "
                           f"(events[{seen[p.idempotency_key]}]); each event needs its own key.", Conflict))
        seen.setdefault(p.idempotency_key, p.index)
        if p.reservation_id is not None:
            if p.reservation_id in rids:
                errors.append((p.index, "reservation_id", "The batch settles one reservation twice.", Conflict))
            rids.add(p.reservation_id)
    if errors:
        errors.sort(key=lambda e: e[0])
        raise event_errors(errors)
    return out


# ------------------------------------------------------------------------------------------ set-based lookups
_LIST = bindparam("values", expanding=True)
_USER_QUERIES: dict[tuple, tuple] = {}


def _user_queries(cols: tuple) -> tuple:
    """(by id, by email as stored, by lower(email)) selects of (id, org_id, email, *cols), built once."""
    if cols not in _USER_QUERIES:
        q = select(User.id, User.org_id, User.email, *cols)
        _USER_QUERIES[cols] = (q.where(User.id.in_(_LIST)), q.where(User.email.in_(_LIST)),
                               q.where(func.lower(User.email).in_(_LIST)))
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


_MODELS = select(AIModel.name, AIModel.id, AIModel.prompt_rate_milli, AIModel.completion_rate_milli,
                 AIModel.enabled).where(AIModel.name.in_(_LIST))


def models_by_name(session: Session, names) -> dict[str, tuple]:
    """{name: (id, prompt rate, completion rate, enabled)} in one query."""
    if not names:
        return {}
    rows = session.connection().execute(_MODELS, {"values": list(set(names))})
    return {name: (mid, p, c, bool(en)) for name, mid, p, c, en in rows}


def resolve(session: Session, org_id: int, pending: list[Pending], users: dict, models: dict) -> list:
    """Fill in user, model and billed tokens from the looked-up rows; returns the errors (index, field, message,
    class) of events naming an unknown (or another org's) user or model, or billing beyond 64 bits."""
    errors = []
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


_T = UsageEvent.__table__
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
        ref = _user_ref(raw.get("user"), scratch, i)
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
    table = UsageEvent.__table__
    cols = [c.name for c in table.columns if c.name != "id"]
    session.execute(table.insert(), [{c: getattr(e, c) for c in cols} for e in events])
    rollups.apply(session, events)
    return len(events)
