"""Token Statistics: the page — its user filter and model choices, and everything it shows (cards.py, charts.py)
in one read transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from models import AIModel, User, utcnow
from services.analytics.cards import Cards
from services.analytics.cards import cards as compute_cards
from services.analytics.charts import Chart, assigned_vs_used, by_model, monthly_by_kind, per_user, usage_over_time
from services.analytics.stats_filter import StatsFilter, make_filter, resolve_scope
from services.core.actor import Actor
from services.core.errors import Invalid, NotFound
from services.core.permissions import READ_STATS, require_role, user_in_scope


def model_options(db: Session) -> list[tuple[int, str]]:
    rows = db.exec(select(AIModel.id, AIModel.name).order_by(AIModel.name)).all()
    return [(i, n) for i, n in rows if i is not None]


def find_user(db: Session, *, actor: Actor, email) -> int | None:
    """The id of a user in the actor's scope by email (the page's user filter); None for an empty box."""
    require_role(actor, READ_STATS, "see token statistics")
    if not isinstance(email, str) or not email.strip():
        return None
    resolve_scope(db, actor)
    if len(email) > 320:
        raise Invalid("Email is too long.", field="user")
    uid = db.exec(select(User.id).where(func.lower(User.email) == email.strip().lower())).first()
    if uid is None:
        raise NotFound("No such user.", field="user")
    user_in_scope(db, actor, uid)
    return uid


@dataclass
class StatsPage:
    cards: Cards
    monthly: Chart
    over_time: Chart
    top_users: Chart
    models: Chart
    assigned: Chart


def statistics_page(db: Session, *, actor: Actor, flt: StatsFilter, granularity: str, top: int = 10,
                    now: datetime | None = None) -> StatsPage:
    """Everything the Token Statistics page shows, in one read transaction."""
    now = now or utcnow()
    sc = resolve_scope(db, actor)
    return StatsPage(
        cards=compute_cards(db, actor=actor, now=now, scope=sc),
        monthly=monthly_by_kind(db, actor=actor, user_id=flt.user_id, model_id=flt.model_id, now=now, scope=sc),
        over_time=usage_over_time(db, actor=actor, flt=flt, granularity=granularity, scope=sc),
        top_users=per_user(db, actor=actor, flt=flt, limit=top, scope=sc),
        models=by_model(db, actor=actor, flt=flt, scope=sc),
        assigned=assigned_vs_used(db, actor=actor, kind=flt.kind, now=now, scope=sc),
    )


def load_page(db: Session, *, actor: Actor, start, end, kind=None, model=None, user_email="", granularity="day",
              top: int = 10, now: datetime | None = None) -> tuple[int | None, list[tuple[int, str]], StatsPage]:
    """What the page's handler reads for its filters (as the browser sent them, validated here): the user
    filter's id, the model choices and everything the page shows."""
    uid = find_user(db, actor=actor, email=user_email)
    flt = make_filter(db, actor, start=start, end=end, kind=kind, model_id=model, user_id=uid)
    return uid, model_options(db), statistics_page(db, actor=actor, flt=flt, granularity=granularity, top=top, now=now)
