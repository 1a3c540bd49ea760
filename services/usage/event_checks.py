"""Usage events checked in plain Python (types, ranges, times — no query) before the ledger sees them
(services/usage/ledger.py): `check_events` raises one domain error naming every bad field of a batch."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from models import INT64_MAX
from services.core import validation
from services.core.errors import Conflict, DomainError, Invalid, NotFound

MAX_BATCH = 1000
MAX_KEY = 200
FUTURE_SKEW = timedelta(minutes=5)  # occurred_at may be at most this far ahead of the server's clock …
MAX_AGE = timedelta(days=400)  # … and at most this far behind it
_UTC = UTC

EventError = tuple[int, str | None, str, type[DomainError]]  # event index, field or None, message, class


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


def event_errors(errors: list[EventError]) -> DomainError:
    """One domain error carrying every (event index, field or None, message, error class) as `event_errors`;
    it is of the first malformed field's class, message and field (Invalid), or if none is malformed of the
    first one's (NotFound for an unknown user, model or reservation; Conflict), so callers that look at one
    error see the usual domain error."""
    i, field, message, cls = next((e for e in errors if issubclass(e[3], Invalid)), errors[0])
    exc = cls(message, field=field)
    setattr(exc, "event_errors", list(errors))  # noqa: B010 (DomainError, services/core, declares no such field)
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


def user_ref(ref, errors: list, i: int):
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
    user = user_ref(raw.get("user"), errors, i)
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
    errors: list[EventError] = []
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
    return [p for p in out if p is not None]  # none is None: check_event reported it
