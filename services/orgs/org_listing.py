"""The super admins' list of organizations: users, assigned caps, pool (unexpired purchases) and closest
expiry per org, in three grouped queries whatever the number of organizations."""

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from models import AIModel, OrgAllowedModel, Organization, Purchase, User, utcnow
from services.core.actor import Actor
from services.core.errors import NotFound
from services.core.permissions import require_super
from services.orgs.organizations import ORG_FIELDS

PAGE = 50


def org_rows(session: Session, *, actor: Actor, offset: int = 0, limit: int = PAGE, now=None) -> tuple[list[dict], int]:
    """One page of organizations by name, and the total count."""
    require_super(actor, "list organizations")
    now = now or utcnow()
    offset = offset if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0 else 0
    limit = max(1, min(limit, 200))
    total = session.exec(select(func.count()).select_from(Organization)).one()
    page = session.exec(select(Organization).order_by(Organization.name).offset(offset).limit(limit)).all()
    ids = [o.id for o in page]
    if not ids:
        return [], total
    per_org = {r[0]: r[1:] for r in session.exec(
        select(User.org_id, func.count(col(User.id)), func.coalesce(func.sum(User.max_tokens), 0),
               func.coalesce(func.sum(User.max_training_tokens), 0))
        .where(col(User.org_id).in_(ids)).group_by(col(User.org_id))).all()}
    pools = {r[0]: r[1:] for r in session.exec(
        select(Purchase.org_id, func.coalesce(func.sum(Purchase.tokens), 0),
               func.coalesce(func.sum(Purchase.training_tokens), 0), func.min(Purchase.expires_at))
        .where(col(Purchase.org_id).in_(ids), or_(col(Purchase.expires_at).is_(None), Purchase.expires_at > now))
        .group_by(col(Purchase.org_id))).all()}
    rows = []
    for o in page:
        if o.id is None:  # a stored row always has its id
            continue
        tokens, training, closest = pools.get(o.id, (0, 0, None))
        users, assigned, assigned_training = per_org.get(o.id, (0, 0, 0))
        rows.append({"id": o.id, "name": o.name, "domain": o.email_domain or "", "users": users,
                     "pool_tokens": int(tokens), "pool_training": int(training), "assigned_tokens": int(assigned),
                     "assigned_training": int(assigned_training), "closest_expiry": closest,
                     "created_at": o.created_at})
    return rows, total


def org_detail(session: Session, *, actor: Actor, org_id) -> dict:
    """Everything the edit dialog shows: the org's fields, monthly caps, and the model catalog with the
    org's allowed models ticked (none ticked = all models allowed)."""

    require_super(actor, "edit organizations")
    org = session.get(Organization, org_id) if isinstance(org_id, int) and not isinstance(org_id, bool) \
        and 0 < org_id < 2**63 else None
    if org is None:
        raise NotFound("Organization not found.")
    allowed = set(session.exec(select(OrgAllowedModel.model_id).where(OrgAllowedModel.org_id == org.id)).all())
    models = [{"id": m.id, "name": m.name, "provider": m.provider, "allowed": m.id in allowed}
              for m in session.exec(select(AIModel).where(AIModel.enabled == True).order_by(AIModel.name)).all()]  # noqa: E712
    fields = {f: (getattr(org, f) or "") for f in ORG_FIELDS}
    caps = {f: getattr(org, f) for f in ("monthly_token_cap", "monthly_training_cap")}
    return {"id": org.id, **fields, **caps, "models": models}
