"""Demo enterprise requests: one activated (Umbrella Health, now an organization) and one pending (Hooli
Cloud), made by registered users without an organization through the real onboarding services."""

from datetime import datetime, timedelta

from sqlmodel import Session

from models import EnterpriseRequest, User
from services.core.actor import Actor, system_actor
from services.onboarding import enterprise

GUEST_EMAIL = "guest@steward.example"  # a registered user with no organization (tries the request page)
ACTIVATED = ("Umbrella Health", "dana@umbrella.example",
             ("dana@umbrella.example", "eli@umbrella.example", "fay@umbrella.example"), 2_000_000)
PENDING = ("Hooli Cloud", "gavin@hooli.example",
           ("gavin@hooli.example", "jared@hooli.example", "monica@hooli.example", "dinesh@hooli.example"),
           4_000_000)


def _person(session: Session, email: str, pw: str, created: datetime) -> User:
    name = email.split("@")[0].capitalize()
    u = User(email=email, name=name, password_hash=pw, verified=True, created_at=created)
    session.add(u)
    session.flush()
    return u


def seed_requests(session: Session, *, pw: str, now: datetime) -> int:
    _person(session, GUEST_EMAIL, pw, now - timedelta(days=3))
    made = 0
    for (name, requester, emails, tokens), days_ago in ((ACTIVATED, 30), (PENDING, 2)):
        people = {e: _person(session, e, pw, now - timedelta(days=days_ago + 5)) for e in emails}
        who = people[requester]
        actor = Actor(who.id, who.role, None, email=who.email, ip="10.0.0.2")
        r = enterprise.submit(session, actor=actor, data={
            "org_name": name, "billing_address": f"1 {name} Plaza", "user_emails": "\n".join(emails),
            "admin_emails": requester, "tokens": str(tokens), "training_tokens": "0",
            "notes": "Requested through the demo data."}).value
        if not isinstance(r, EnterpriseRequest):  # Result.value is untyped
            raise TypeError(f"enterprise.submit returned {r!r}, not a request.")
        r.created_at = r.updated_at = now - timedelta(days=days_ago)
        if name == ACTIVATED[0]:
            system = system_actor()
            enterprise.mark_awaiting_payment(session, actor=system, request_id=r.id)
            enterprise.activate(session, actor=system, request_id=r.id, purchased_at=now - timedelta(days=days_ago - 3))
        made += 1
    session.flush()
    return made
