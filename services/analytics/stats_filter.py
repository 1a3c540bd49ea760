"""Token Statistics: the orgs an actor reads (`Scope`) and the page's filters (`StatsFilter`).

All times are UTC; ranges are whole days, `start` and `end` inclusive. Super admins without a working org
(actor.org_id None) see all orgs side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from models import KINDS, AIModel, Organization
from services.core import validation
from services.core.actor import Actor
from services.core.errors import Invalid, NotFound
from services.core.permissions import READ_STATS, require_role, scoped_org_id, user_in_scope

MAX_RANGE_DAYS = 3 * 366
UTC = UTC


@dataclass(frozen=True)
class Scope:
    org_ids: tuple[int, ...] | None  # None = every org (super admin, "All organizations")
    names: dict[int, str]  # the orgs' names (all-orgs view: the org column)

    @property
    def all_orgs(self) -> bool:
        return self.org_ids is None

    @property
    def ids(self) -> tuple[int, ...]:
        """The org ids read (all orgs: every one by id, so that the rollups' org-first indexes serve)."""
        return self.org_ids if self.org_ids is not None else tuple(sorted(self.names))


def resolve_scope(db: Session, actor: Actor, what: str = "see token statistics", scope: Scope | None = None) -> Scope:
    """The orgs the actor may read. `scope`: one already resolved for this actor in this transaction
    (statistics_page resolves it once for all charts)."""
    require_role(actor, READ_STATS, what)
    if scope is not None:
        return scope
    if actor.is_super and actor.org_id is None:
        names = {i: n for i, n in db.exec(select(Organization.id, Organization.name)).all() if i is not None}
        return Scope(None, names)
    org_id = scoped_org_id(db, actor)
    return Scope((org_id,), {})


@dataclass(frozen=True)
class StatsFilter:
    start: date
    end: date  # inclusive
    kind: str | None = None
    model_id: int | None = None
    user_id: int | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_dt(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=UTC)

    @property
    def end_dt(self) -> datetime:  # exclusive
        return self.start_dt + timedelta(days=self.days)


def make_filter(db: Session, actor: Actor, *, start, end, kind=None, model_id=None, user_id=None) -> StatsFilter:
    """Validate the page's filters (any JSON may arrive) and check the user and model exist in scope."""
    s, e = validation.day(start, "start"), validation.day(end, "end")
    if e < s:
        raise Invalid("The range ends before it starts.", field="end")
    if (e - s).days + 1 > MAX_RANGE_DAYS:
        raise Invalid(f"Choose a range of at most {MAX_RANGE_DAYS} days.", field="start")
    if kind in ("", "all"):
        kind = None
    if kind is not None and kind not in KINDS:
        raise Invalid("Kind must be 'tokens' or 'training'.", field="kind")
    mid, uid = validation.optional_id(model_id, "model"), validation.optional_id(user_id, "user")
    if mid is not None and db.get(AIModel, mid) is None:
        raise NotFound("Unknown model.", field="model")
    if uid is not None:
        user_in_scope(db, actor, uid)
    return StatsFilter(s, e, kind, mid, uid)
