"""Organizations and purchases (super admins record purchases; org admins read their own org)."""

import re
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from models import Organization, Purchase, utcnow
from models.dto import Result
from services.core import audit, settings, validation
from services.core.actor import Actor
from services.core.errors import Conflict, Invalid, NotFound
from services.core.permissions import require_super, scoped_org_id

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ORG_FIELDS = ("name", "billing_address", "contact_name", "email", "phone", "country", "email_domain")


def _org_snapshot(org: Organization) -> dict:
    return {f: getattr(org, f) for f in ORG_FIELDS + ("monthly_token_cap", "monthly_training_cap")}


def _clean_org_fields(session: Session, data: dict, *, current_id: int | None = None) -> dict:
    unknown = set(data) - set(ORG_FIELDS) - {"monthly_token_cap", "monthly_training_cap"}
    if unknown:
        raise Invalid(f"Unknown field: {sorted(unknown)[0]}.")
    out: dict = {}
    if "name" in data:
        name = validation.text(data["name"], "name", max_len=200, required=True)
        clash = session.exec(
            select(Organization.id).where(func.lower(Organization.name) == name.lower())
        ).first()
        if clash is not None and clash != current_id:
            raise Conflict(f"An organization named '{name}' already exists.", field="name")
        out["name"] = name
    for f, limit in (("billing_address", 500), ("contact_name", 200), ("phone", 50), ("country", 100)):
        if f in data:
            out[f] = validation.text(data[f], f, max_len=limit)
    if "email" in data:
        out["email"] = validation.email(data["email"]) if (data["email"] or "").strip() else ""
    if "email_domain" in data:
        dom = validation.text(data["email_domain"], "email_domain", max_len=253).lower().lstrip("@")
        if dom and not _DOMAIN.match(dom):
            raise Invalid(f"'{dom}' is not a valid email domain.", field="email_domain")
        if dom:
            clash = session.exec(select(Organization.id).where(Organization.email_domain == dom)).first()
            if clash is not None and clash != current_id:
                raise Conflict(f"Another organization already uses the domain {dom}.", field="email_domain")
        out["email_domain"] = dom or None
    for f in ("monthly_token_cap", "monthly_training_cap"):
        if f in data:
            out[f] = None if data[f] in (None, "") else validation.token_amount(data[f], f)
    return out


def create_org(session: Session, *, actor: Actor, **data) -> Organization:
    require_super(actor, "create organizations")
    if "name" not in data:
        raise Invalid("Name is required.", field="name")
    org = Organization(**_clean_org_fields(session, data))
    session.add(org)
    session.flush()
    audit.record(session, actor, "org.create", org_id=org.id, target_type="org", target_id=org.id,
                 after=_org_snapshot(org))
    return org


def update_org(session: Session, *, actor: Actor, org_id: int, **data) -> Organization:
    require_super(actor, "edit organizations")
    org = session.get(Organization, org_id) if isinstance(org_id, int) else None
    if org is None:
        raise NotFound("Organization not found.")
    before = _org_snapshot(org)
    for k, v in _clean_org_fields(session, data, current_id=org.id).items():
        setattr(org, k, v)
    session.add(org)
    session.flush()
    audit.record(session, actor, "org.update", org_id=org.id, target_type="org", target_id=org.id,
                 before=before, after=_org_snapshot(org))
    return org


def list_orgs(session: Session, *, actor: Actor) -> list[Organization]:
    require_super(actor, "list organizations")
    return list(session.exec(select(Organization).order_by(Organization.name)).all())


def record_purchase(
    session: Session,
    *,
    actor: Actor,
    org_id: int,
    tokens=0,
    training_tokens=0,
    payer_email: str = "",
    comment: str = "",
    purchased_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> Result[Purchase]:
    require_super(actor, "record purchases")
    org_id = scoped_org_id(session, actor, org_id)
    tokens = validation.token_amount(tokens, "tokens")
    training_tokens = validation.token_amount(training_tokens, "training_tokens")
    if tokens == 0 and training_tokens == 0:
        raise Invalid("A purchase needs tokens or training tokens.", field="tokens")
    step = settings.PURCHASE_MULTIPLE
    for value, field in ((tokens, "tokens"), (training_tokens, "training_tokens")):
        if value % step:
            raise Invalid(
                f"{field.replace('_', ' ').capitalize()} are sold in multiples of {step:,} "
                f"({value:,} is not one).", field=field)
    purchased_at = purchased_at or utcnow()
    if not isinstance(purchased_at, datetime) or (expires_at is not None and not isinstance(expires_at, datetime)):
        raise Invalid("Dates must be valid dates.", field="expires_at")
    if expires_at is not None and expires_at <= purchased_at:
        raise Invalid("The expiration date must be after the purchase date.", field="expires_at")
    payer = validation.email(payer_email, "payer_email") if (payer_email or "").strip() else ""
    p = Purchase(org_id=org_id, tokens=tokens, training_tokens=training_tokens, payer_email=payer,
                 comment=validation.text(comment, "comment", max_len=1000), purchased_at=purchased_at,
                 expires_at=expires_at, created_by=actor.user_id)
    session.add(p)
    session.flush()
    audit.record(session, actor, "purchase.create", org_id=org_id, target_type="purchase", target_id=p.id,
                 after={"tokens": tokens, "training_tokens": training_tokens, "payer_email": payer,
                        "purchased_at": purchased_at, "expires_at": expires_at})
    return Result(p)
