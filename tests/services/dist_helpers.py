"""Small hand-checkable orgs and usage for the distribution / requests / jobs tests."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlmodel import Session, select

from models import DistributionPolicy, User
from services.core.actor import Actor, system_actor
from services.orgs import organizations
from services.usage import rollups
from services.users import accounts


@dataclass
class Org:
    id: int
    admin: User
    members: list[User]

    def actor(self, mfa_at=None) -> Actor:
        return Actor(self.admin.id, "admin", self.id, email=self.admin.email, mfa_verified_at=mfa_at)

    def member_actor(self, i: int) -> Actor:
        u = self.members[i]
        return Actor(u.id, "member", self.id, email=u.email)


def build_org(session: Session, caps: list[int], *, purchased: int = 2_000_000, training: int = 0,
              name: str = "Dist", now: datetime | None = None) -> Org:
    """An org whose admin is pinned at 0 tokens (left out of every run), plus members with the given caps."""
    sysa = system_actor()
    org = organizations.create_org(session, actor=sysa, name=name, email_domain=f"{name.lower()}.test")
    a = system_actor(org.id)
    now = now or datetime.now().astimezone()
    organizations.record_purchase(session, actor=a, org_id=org.id, tokens=purchased, training_tokens=training,
                         purchased_at=now - timedelta(days=400), expires_at=now + timedelta(days=3000))
    admin = accounts.create_user(session, actor=a, email=f"admin@{name.lower()}.test", role="admin").value
    admin.max_tokens, admin.pinned = 0, True
    session.add(admin)
    members = []
    for i, cap in enumerate(caps):
        u = accounts.create_user(session, actor=a, email=f"u{i}@{name.lower()}.test").value
        u.max_tokens = cap  # set directly: tests choose exact starting points
        session.add(u)
        members.append(u)
    session.commit()
    return Org(org.id, admin, members)


def set_policy(session: Session, org_id: int, kind: str = "tokens", **fields) -> DistributionPolicy:
    p = session.exec(select(DistributionPolicy).where(DistributionPolicy.org_id == org_id,
                                                      DistributionPolicy.kind == kind)).first()
    if p is None:
        p = DistributionPolicy(org_id=org_id, kind=kind, preset="custom", floor=200_000, ceiling=None)
    for k, v in fields.items():
        setattr(p, k, v)
    session.add(p)
    session.commit()
    return p


def add_usage(session: Session, org_id: int, user_id: int, amount: int, when: datetime, kind: str = "tokens"):
    ev = SimpleNamespace(org_id=org_id, user_id=user_id, model_id=1, kind=kind, occurred_at=when,
                         prompt_tokens=amount, completion_tokens=0, billed_tokens=amount)
    rollups.apply(session, [ev])
    session.commit()


def caps(session: Session, people: list[User], field: str = "max_tokens") -> list[int]:
    session.expire_all()
    out = [getattr(session.get(User, u.id), field) for u in people]
    session.commit()  # end the read: an open SQLite transaction would block other connections
    return out
