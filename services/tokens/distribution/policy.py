"""Distribution policies (one per org and kind): read, presets, field edits, per-user overrides, exclusions."""

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from models import DistributionPolicy, User, utcnow
from models.dto import Result
from services.core import audit, validation
from services.core.actor import Actor
from services.core.errors import Invalid, NotFound
from services.core.permissions import MANAGE, require_role, scoped_org_id, user_in_scope
from services.core.user_records import find_by_email
from services.tokens.allocation import _OVERRIDES, default_floor, policy_for
from services.tokens.distribution.lock import ensure_unlocked
from services.tokens.distribution.presets import PRESET_FIELDS, PRESET_NAMES, PRESETS

METHODS = ("flat", "percent_current", "percent_headroom", "tiered")
SCHEDULES = ("off", "daily", "weekly", "monthly")
RECLAIM_SCHEDULES = ("weekly", "monthly")
STRATEGIES = ("equal", "usage", "incremental")
MAX_PCT = 1000
MAX_COOLDOWN = 60 * 24 * 366
EDITABLE = PRESET_FIELDS + ("monthly_reset", "reclamation", "reclaim_schedule", "reclaim_buffer_pct", "reserve_pct",
                            "auto_approve", "auto_approve_max", "schedule", "scheduled_strategy", "lookback_days")


def effective_policy(session: Session, org_id: int, kind: str) -> DistributionPolicy:
    """The stored policy, or the unsaved default (custom: floor = the per-user minimum, no ceiling)."""
    p = policy_for(session, org_id, kind)
    if p is None:
        p = DistributionPolicy(org_id=org_id, kind=kind, preset="custom", floor=default_floor(kind), ceiling=None)
    return p


def policy_dict(p: DistributionPolicy) -> dict:
    return {f: getattr(p, f) for f in ("kind", "preset") + EDITABLE}


def _int_in(value, field: str, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) <= 12:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise Invalid(f"{field.replace('_', ' ').capitalize()} must be a whole number from {lo} to {hi:,}.",
                      field=field)
    return value


def _pct(value, field: str, lo: float, hi: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip()) if len(value) <= 12 else None
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or not lo <= value <= hi:
        raise Invalid(f"{field.replace('_', ' ').capitalize()} must be a percentage from {lo:g} to {hi:g}.",
                      field=field)
    return round(float(value), 1)


def clean_field(field: str, value, method: str):
    """Validate one policy field; `method` is the increase method in force (it decides the amount's unit)."""
    if field in ("floor", "auto_approve_max"):
        return validation.token_amount(value, field)
    if field == "ceiling":
        return None if value in (None, "") else validation.token_amount(value, field)
    if field in ("auto_increase", "monthly_reset", "reclamation", "auto_approve"):
        return validation.flag(value, field)
    if field == "increase_method":
        return validation.choice(value, METHODS, field)
    if field == "increase_amount":
        if method == "flat":
            return validation.token_amount(value, field, allow_zero=False)
        return _int_in(value, field, 1, MAX_PCT)
    if field == "trigger_pct":
        return _pct(value, field, 1, 100)
    if field == "cooldown_minutes":
        return _int_in(value, field, 0, MAX_COOLDOWN)
    if field == "near_ceiling_bump_pct":
        return None if value in (None, "") else _int_in(value, field, 1, MAX_PCT)
    if field == "reclaim_schedule":
        return validation.choice(value, RECLAIM_SCHEDULES, field)
    if field == "reclaim_buffer_pct":
        return _int_in(value, field, 0, 100)
    if field == "reserve_pct":
        return _int_in(value, field, 0, 90)
    if field == "schedule":
        return validation.choice(value, SCHEDULES, field)
    if field == "scheduled_strategy":
        return validation.choice(value, STRATEGIES, field)
    if field == "lookback_days":
        return _int_in(value, field, 1, 366)
    raise Invalid(f"Unknown policy field {str(field)[:40]!r}.")


def _save(session: Session, actor: Actor, org_id: int, p: DistributionPolicy, before: dict,
          action: str) -> Result[dict]:
    if p.ceiling is not None and p.ceiling < p.floor:
        raise Invalid("The ceiling cannot be below the floor.", field="ceiling")
    p.updated_at, p.updated_by = utcnow(), actor.user_id
    session.add(p)
    session.flush()
    audit.record(session, actor, action, org_id=org_id, target_type="distribution_policy", target_id=p.kind,
                 before=before, after=policy_dict(p))
    warnings = []
    n_below = session.exec(select(func.count(col(User.id))).where(
        User.org_id == org_id, _cap_col(p.kind) < p.floor)).one()
    if n_below:
        who = "1 user is" if n_below == 1 else f"{n_below:,} users are"
        warnings.append(f"{who} below the new floor; a distribution run raises them.")
    return Result(policy_dict(p), warnings)


def _cap_col(kind: str):
    return User.max_tokens if kind == "tokens" else User.max_training_tokens


def get_policy(session: Session, *, actor: Actor, kind: str) -> dict:
    require_role(actor, MANAGE, "see distribution policies")
    return policy_dict(effective_policy(session, scoped_org_id(session, actor), validation.kind(kind)))


def apply_preset(session: Session, *, actor: Actor, kind: str, preset: str) -> Result[dict]:
    require_role(actor, MANAGE, "change distribution policies")
    kind = validation.kind(kind)
    preset = validation.choice(preset, PRESET_NAMES, "preset")
    org_id = scoped_org_id(session, actor)
    ensure_unlocked(session, org_id)
    p = effective_policy(session, org_id, kind)
    before = policy_dict(p)
    for f, v in PRESETS.get(preset, {}).items():
        setattr(p, f, v)
    p.preset = preset
    return _save(session, actor, org_id, p, before, "policy.preset")


def update_policy(session: Session, *, actor: Actor, kind: str, changes: dict) -> Result[dict]:
    """Edit fields; changing a field the preset fills makes the policy "custom"."""
    require_role(actor, MANAGE, "change distribution policies")
    kind = validation.kind(kind)
    if not isinstance(changes, dict) or not changes:
        raise Invalid("Nothing to save.")
    if len(changes) > len(EDITABLE) or any(f not in EDITABLE for f in changes):
        bad = next((f for f in changes if f not in EDITABLE), "?")
        raise Invalid(f"Unknown policy field {str(bad)[:40]!r}.")
    org_id = scoped_org_id(session, actor)
    ensure_unlocked(session, org_id)
    p = effective_policy(session, org_id, kind)
    before = policy_dict(p)
    method = changes.get("increase_method", p.increase_method)
    method = clean_field("increase_method", method, "")
    cleaned = {f: clean_field(f, v, method) for f, v in changes.items()}
    if "increase_method" in cleaned and cleaned["increase_method"] != p.increase_method \
            and "increase_amount" not in cleaned and (method == "flat") != (p.increase_method == "flat"):
        raise Invalid("Give the increase amount too when switching between a flat and a percentage increase.",
                      field="increase_amount")
    for f, v in cleaned.items():
        if f in PRESET_FIELDS and getattr(p, f) != v:
            p.preset = "custom"
        setattr(p, f, v)
    return _save(session, actor, org_id, p, before, "policy.update")


# ----------------------------------------------------------------------------------- per-user settings
def _user_row(u: User) -> dict:
    return {"user_id": u.id, "email": u.email, "name": u.name, "max_tokens": u.max_tokens,
            "max_training_tokens": u.max_training_tokens, "pinned": u.pinned,
            "excluded": u.excluded_from_automation,
            "floor_override": u.floor_override, "ceiling_override": u.ceiling_override,
            "training_floor_override": u.training_floor_override,
            "training_ceiling_override": u.training_ceiling_override}


def special_users(session: Session, *, actor: Actor, limit: int = 200) -> dict:
    """Users with an override, excluded from automation, or pinned (each list capped at `limit`) and counts."""
    require_role(actor, MANAGE, "see distribution settings")
    org_id = scoped_org_id(session, actor)
    has_override = or_(col(User.floor_override).is_not(None), col(User.ceiling_override).is_not(None),
                       col(User.training_floor_override).is_not(None), col(User.training_ceiling_override).is_not(None))
    out: dict[str, list[dict] | int] = {}
    for name, cond in (("overrides", has_override), ("excluded", col(User.excluded_from_automation).is_(True)),
                       ("pinned", col(User.pinned).is_(True))):
        base = select(User).where(User.org_id == org_id, cond)
        out[name] = [_user_row(u) for u in session.exec(base.order_by(User.email).limit(limit))]
        out[name + "_count"] = int(session.exec(select(func.count(col(User.id)))
                                                .where(User.org_id == org_id, cond)).one())
    return out


def set_override(session: Session, *, actor: Actor, user_id, kind: str, floor=None, ceiling=None) -> Result[dict]:
    """Per-user floor/ceiling for one kind; None clears that side."""
    require_role(actor, MANAGE, "change per-user limits")
    kind = validation.kind(kind)
    floor = None if floor in (None, "") else validation.token_amount(floor, "floor")
    ceiling = None if ceiling in (None, "") else validation.token_amount(ceiling, "ceiling")
    if floor is not None and ceiling is not None and ceiling < floor:
        raise Invalid("The ceiling cannot be below the floor.", field="ceiling")
    user = user_in_scope(session, actor, user_id)
    ensure_unlocked(session, user.org_id)
    before = _user_row(user)
    f_attr, c_attr = _OVERRIDES[kind]
    setattr(user, f_attr, floor)
    setattr(user, c_attr, ceiling)
    session.add(user)
    session.flush()
    audit.record(session, actor, "policy.override", org_id=user.org_id, target_type="user", target_id=user.id,
                 before=before, after=_user_row(user))
    warnings = []
    cap = user.max_tokens if kind == "tokens" else user.max_training_tokens
    if floor is not None and cap < floor:
        warnings.append(f"{user.email}'s allocation {cap:,} is below the new floor; a distribution run raises it.")
    if ceiling is not None and cap > ceiling:
        warnings.append(f"{user.email}'s allocation {cap:,} is above the new ceiling; a distribution run lowers it.")
    return Result(_user_row(user), warnings)


def clear_override(session: Session, *, actor: Actor, user_id, kind: str) -> Result[dict]:
    return set_override(session, actor=actor, user_id=user_id, kind=kind, floor=None, ceiling=None)


def set_excluded(session: Session, *, actor: Actor, user_id, excluded) -> dict:
    """Excluded users are left out of automation (auto-increase, reset, reclamation, distribution runs)."""
    require_role(actor, MANAGE, "change automation exclusions")
    excluded = validation.flag(excluded, "excluded")
    user = user_in_scope(session, actor, user_id)
    ensure_unlocked(session, user.org_id)
    before = _user_row(user)
    user.excluded_from_automation = excluded
    session.add(user)
    session.flush()
    audit.record(session, actor, "policy.exclude" if excluded else "policy.include", org_id=user.org_id,
                 target_type="user", target_id=user.id, before=before, after=_user_row(user))
    return _user_row(user)


def user_by_ref(session: Session, actor: Actor, ref) -> User:
    """A user in the actor's org by id or email (forms take emails); others answer like missing ones."""
    if isinstance(ref, str) and "@" in ref:
        user = find_by_email(session, ref.strip()[:320])
        if user is None:

            raise NotFound("User not found.")
        ref = user.id
    return user_in_scope(session, actor, ref)
