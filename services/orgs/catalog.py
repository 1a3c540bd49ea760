"""The model catalog and each organization's allowed models (none listed = every enabled model)."""

from sqlmodel import Session, col, delete, select

from models import AIModel, OrgAllowedModel
from services.core import audit
from services.core.actor import Actor
from services.core.errors import Invalid, NotFound
from services.core.permissions import require_super, scoped_org_id

# name, provider, prompt rate, completion rate (thousandths of a billed token per token)
DEFAULT_MODELS = (
    ("gpt-4o", "OpenAI", 1000, 3000),
    ("gpt-4o-mini", "OpenAI", 150, 600),
    ("claude-3-5-sonnet", "Anthropic", 1000, 5000),
    ("gemini-1.5-pro", "Google", 800, 2400),
    ("llama-3-70b", "Meta", 500, 500),
    ("mistral-large", "Mistral", 700, 2100),
    ("text-embedding-3-large", "OpenAI", 100, 0),
)


def ensure_default_models(session: Session) -> list[AIModel]:
    existing = {m.name for m in session.exec(select(AIModel)).all()}
    for name, provider, p, c in DEFAULT_MODELS:
        if name not in existing:
            session.add(AIModel(name=name, provider=provider, prompt_rate_milli=p, completion_rate_milli=c))
    session.flush()
    return list(session.exec(select(AIModel).order_by(col(AIModel.id))).all())


def allowed_model_ids(session: Session, org_id: int) -> set[int]:
    """Ids of the models the org may use."""
    listed = set(session.exec(select(OrgAllowedModel.model_id).where(OrgAllowedModel.org_id == org_id)).all())
    enabled = {i for i in session.exec(select(AIModel.id).where(AIModel.enabled == True)).all()  # noqa: E712
               if i is not None}
    return (listed & enabled) if listed else enabled


def set_allowed_models(session: Session, *, actor: Actor, org_id: int, model_ids: list[int]) -> set[int]:
    require_super(actor, "change allowed models")
    org_id = scoped_org_id(session, actor, org_id)
    if not isinstance(model_ids, list) or any(not isinstance(m, int) or isinstance(m, bool) for m in model_ids):
        raise Invalid("Model ids must be a list of numbers.", field="model_ids")
    known = set(session.exec(select(AIModel.id)).all())
    missing = set(model_ids) - known
    if missing:
        raise NotFound(f"Unknown model id {sorted(missing)[0]}.", field="model_ids")
    before = sorted(session.exec(select(OrgAllowedModel.model_id).where(OrgAllowedModel.org_id == org_id)).all())
    session.exec(delete(OrgAllowedModel).where(col(OrgAllowedModel.org_id) == org_id))
    for mid in sorted(set(model_ids)):
        session.add(OrgAllowedModel(org_id=org_id, model_id=mid))
    audit.record(session, actor, "org.allowed_models", org_id=org_id, target_type="org", target_id=org_id,
                 before={"model_ids": before}, after={"model_ids": sorted(set(model_ids))})
    return set(model_ids)
