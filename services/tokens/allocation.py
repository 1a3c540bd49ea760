"""Allocation changes: each user's monthly caps, clamped into the policy floor/ceiling, with warnings."""

from dataclasses import dataclass

from sqlmodel import Session, select

from models import DistributionPolicy, User
from models.base import stored_id
from models.dto import Result
from services.core import audit, settings, validation
from services.core.actor import Actor
from services.core.errors import Invalid
from services.core.permissions import MANAGE, require_role, require_step_up, scoped_org_id, user_in_scope
from services.tokens.distribution.lock import ensure_unlocked
from services.tokens.pool import compute_summary

CAP_FIELD = {"tokens": "max_tokens", "training": "max_training_tokens"}
_OVERRIDES = {"tokens": ("floor_override", "ceiling_override"),
              "training": ("training_floor_override", "training_ceiling_override")}


@dataclass(frozen=True)
class Bounds:
    floor: int
    ceiling: int | None  # None = unlimited


def default_floor(kind: str) -> int:
    return settings.MIN_TOKENS_PER_USER if kind == "tokens" else 0


def policy_for(session: Session, org_id: int, kind: str) -> DistributionPolicy | None:
    return session.exec(
        select(DistributionPolicy).where(DistributionPolicy.org_id == org_id, DistributionPolicy.kind == kind)
    ).first()


def bounds_for(user: User, kind: str, policy: DistributionPolicy | None) -> Bounds:
    floor = policy.floor if policy else default_floor(kind)
    ceiling = policy.ceiling if policy else None
    f_attr, c_attr = _OVERRIDES[kind]
    if getattr(user, f_attr) is not None:
        floor = getattr(user, f_attr)
    if getattr(user, c_attr) is not None:
        ceiling = getattr(user, c_attr)
    return Bounds(floor, ceiling)


def clamp(value: int, b: Bounds) -> tuple[int, str | None]:
    if value < b.floor:
        return b.floor, f"raised to the floor of {b.floor:,}"
    if b.ceiling is not None and value > b.ceiling:
        return b.ceiling, f"lowered to the ceiling of {b.ceiling:,}"
    return value, None


def cap_snapshot(user: User) -> dict:
    return {"max_tokens": user.max_tokens, "max_training_tokens": user.max_training_tokens, "pinned": user.pinned}


def set_allocations(session: Session, *, actor: Actor, changes: list[dict]) -> Result[list[dict]]:
    """Apply several cap edits in one transaction: [{"user_id", "max_tokens"?, "max_training_tokens"?}, …].

    Every value is validated first (nothing changes if one is bad); values outside the floor/ceiling are
    clamped with a warning; assigning more than purchased is allowed but reported. Raising a cap by more than
    STEWARD_STEP_UP_GRANT_TOKENS needs MFA verified in the last minutes (StepUpRequired, the caller rolls back).
    """
    require_role(actor, MANAGE, "change token allocations")
    if not isinstance(changes, list) or not changes:
        raise Invalid("Nothing to save.")
    if len(changes) > 10_000:
        raise Invalid("Too many changes at once (at most 10,000).")
    org_id = scoped_org_id(session, actor)
    ensure_unlocked(session, org_id)
    parsed: list[tuple[User, dict[str, int]]] = []
    seen: set[int] = set()
    for i, ch in enumerate(changes):
        if not isinstance(ch, dict):
            raise Invalid(f"Change #{i + 1} is malformed.")
        user = user_in_scope(session, actor, ch.get("user_id"))
        uid = stored_id(user)
        if uid in seen:
            raise Invalid(f"{user.email} appears twice in the changes.")
        seen.add(uid)
        values = {}
        for kind, fld in CAP_FIELD.items():
            if fld in ch and ch[fld] is not None:
                try:
                    values[kind] = validation.token_amount(ch[fld], fld)
                except Invalid as e:
                    raise Invalid(f"{user.email}: {e.message}", field=fld) from None
        if not values:
            raise Invalid(f"{user.email}: no new value given.")
        parsed.append((user, values))

    warnings: list[str] = []
    policies = {k: policy_for(session, org_id, k) for k in CAP_FIELD}
    rows = []
    for user, values in parsed:
        before = cap_snapshot(user)
        for kind, value in values.items():
            final, note = clamp(value, bounds_for(user, kind, policies[kind]))
            if final - getattr(user, CAP_FIELD[kind]) > settings.STEP_UP_GRANT_TOKENS:
                require_step_up(actor)  # raising a cap this much is a large grant: a fresh MFA code first
            if note:
                warnings.append(f"{user.email}: {CAP_FIELD[kind].replace('_', ' ')} {value:,} {note}.")
            setattr(user, CAP_FIELD[kind], final)
        session.add(user)
        audit.record(session, actor, "allocation.set", org_id=org_id, target_type="user", target_id=user.id,
                     before=before, after=cap_snapshot(user))
        rows.append({"user_id": user.id, **cap_snapshot(user)})
    session.flush()
    warnings.extend(compute_summary(session, org_id).warnings)
    return Result(rows, warnings)


def set_allocation(session: Session, *, actor: Actor, user_id: int, max_tokens=None,
                   max_training_tokens=None) -> Result[list[dict]]:
    return set_allocations(session, actor=actor, changes=[
        {"user_id": user_id, "max_tokens": max_tokens, "max_training_tokens": max_training_tokens}])


def set_pinned(session: Session, *, actor: Actor, user_id: int, pinned: bool) -> User:
    """A pinned allocation is exempt from every automatic change (auto-increase, resets, distribution)."""
    require_role(actor, MANAGE, "pin allocations")
    pinned = validation.flag(pinned, "pinned")
    user = user_in_scope(session, actor, user_id)
    ensure_unlocked(session, user.org_id)
    before = cap_snapshot(user)
    user.pinned = pinned
    session.add(user)
    audit.record(session, actor, "allocation.pin" if pinned else "allocation.unpin", org_id=user.org_id,
                 target_type="user", target_id=user.id, before=before, after=cap_snapshot(user))
    return user
