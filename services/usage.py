"""Usage recording: the append-only ledger and its rollups, written in one transaction.

A retried idempotency key is acknowledged and changes nothing (INSERT … ON CONFLICT DO NOTHING).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func
from sqlmodel import Session, select

from models import AIModel, UsageEvent, User, utcnow
from models.catalog import RATE_SCALE
from services import rollups, validation
from services.actor import Actor
from services.dialect import insert_for
from services.errors import Forbidden, Invalid, NotFound
from services.permissions import scoped_org_id

MAX_BATCH = 1000
MAX_KEY = 200
FUTURE_SKEW = timedelta(minutes=5)
GATEWAY = "gateway"


def gateway_actor(org_id: int) -> Actor:
    """The GenAI gateway acting for one org (an authenticated API key)."""
    return Actor(user_id=None, role=GATEWAY, org_id=org_id, email="gateway")


def billed_tokens(model: AIModel, prompt: int, completion: int) -> int:
    """Billed tokens from the model's conversion rates, rounded up; integer arithmetic only."""
    scaled = prompt * model.prompt_rate_milli + completion * model.completion_rate_milli
    return -(-scaled // RATE_SCALE)


@dataclass
class Recorded:
    idempotency_key: str
    event_id: int | None
    duplicate: bool
    billed_tokens: int


def _resolve_user(session: Session, org_id: int, ref) -> User:
    if isinstance(ref, bool):
        ref = None
    if isinstance(ref, int):
        user = session.get(User, ref)
    elif isinstance(ref, str) and "@" in ref:
        user = session.exec(select(User).where(func.lower(User.email) == ref.strip().lower())).first()
    else:
        raise Invalid("User must be a user id or an email.", field="user")
    if user is None or user.org_id != org_id:
        raise NotFound(f"Unknown user {ref!r}.", field="user")
    return user


def _resolve_model(session: Session, cache: dict, name) -> AIModel:
    if not isinstance(name, str) or not name.strip():
        raise Invalid("Model is required.", field="model")
    if name not in cache:
        cache[name] = session.exec(select(AIModel).where(AIModel.name == name.strip())).first()
    if cache[name] is None:
        raise NotFound(f"Unknown model {name!r}.", field="model")
    return cache[name]


def _build_event(session: Session, org_id: int, raw: dict, cache: dict, now: datetime) -> UsageEvent:
    if not isinstance(raw, dict):
        raise Invalid("Each usage event must be an object.")
    key = raw.get("idempotency_key")
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        raise Invalid(f"idempotency_key is required (1–{MAX_KEY} characters).", field="idempotency_key")
    user = _resolve_user(session, org_id, raw.get("user"))
    model = _resolve_model(session, cache, raw.get("model"))
    prompt = validation.token_amount(raw.get("prompt_tokens", 0), "prompt_tokens")
    completion = validation.token_amount(raw.get("completion_tokens", 0), "completion_tokens")
    kind = validation.kind(raw.get("kind", "tokens"))
    when = raw.get("occurred_at") or now
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("occurred_at must be an ISO 8601 time.", field="occurred_at") from None
    if not isinstance(when, datetime):
        raise Invalid("occurred_at must be an ISO 8601 time.", field="occurred_at")
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    if when > now + FUTURE_SKEW:
        raise Invalid("occurred_at is in the future.", field="occurred_at")
    ip = validation.text(raw.get("ip", ""), "ip", max_len=45)
    billed = billed_tokens(model, prompt, completion)
    validation.token_amount(billed, "billed_tokens")
    return UsageEvent(idempotency_key=key.strip(), org_id=org_id, user_id=user.id, model_id=model.id, kind=kind,
                      prompt_tokens=prompt, completion_tokens=completion, billed_tokens=billed,
                      occurred_at=when, ip=ip, recorded_at=now)


def record_usage(session: Session, *, actor: Actor, events: list[dict], now: datetime | None = None) -> list[Recorded]:
    """Record one or more usage events for the actor's org. All events are validated before anything is
    written; the batch lands (ledger + rollups) in the caller's transaction."""
    if actor.role not in (GATEWAY, "super_admin"):
        raise Forbidden("Only the gateway can report usage.")
    org_id = scoped_org_id(session, actor)
    if not isinstance(events, list) or not events:
        raise Invalid("Send at least one usage event.")
    if len(events) > MAX_BATCH:
        raise Invalid(f"A batch holds at most {MAX_BATCH:,} events.")
    now = now or utcnow()
    cache: dict = {}
    built = [_build_event(session, org_id, raw, cache, now) for raw in events]
    keys = [e.idempotency_key for e in built]
    if len(set(keys)) != len(keys):
        raise Invalid("The batch repeats an idempotency_key.", field="idempotency_key")
    new_events, out = [], {}
    table = UsageEvent.__table__
    for ev in sorted(built, key=lambda e: e.idempotency_key):  # fixed order: no deadlocks between batches
        values = {c.name: getattr(ev, c.name) for c in table.columns if c.name != "id"}
        stmt = insert_for(session, table).values(**values).on_conflict_do_nothing(
            index_elements=["idempotency_key"]).returning(table.c.id)
        new_id = session.execute(stmt).scalar()
        if new_id is None:
            prior = session.exec(select(UsageEvent).where(UsageEvent.idempotency_key == ev.idempotency_key)).one()
            out[ev.idempotency_key] = Recorded(ev.idempotency_key, prior.id, True, prior.billed_tokens)
        else:
            ev.id = new_id
            new_events.append(ev)
            out[ev.idempotency_key] = Recorded(ev.idempotency_key, new_id, False, ev.billed_tokens)
    rollups.apply(session, new_events)
    return [out[k] for k in keys]


def bulk_load(session: Session, events: list[UsageEvent]) -> int:
    """Insert many trusted events at once (demo seed, benchmarks) and add them to the rollups."""
    if not events:
        return 0
    table = UsageEvent.__table__
    cols = [c.name for c in table.columns if c.name != "id"]
    session.execute(table.insert(), [{c: getattr(e, c) for c in cols} for e in events])
    rollups.apply(session, events)
    return len(events)
