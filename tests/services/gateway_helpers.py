"""Shared set-up for the gateway tests: the conftest world, the default models, and small helpers."""

from itertools import count

from sqlmodel import Session, select

from models import Reservation, UsageEvent
from services import catalog, gateway
from services.usage import gateway_actor

_keys = count()


def setup(world, session):
    catalog.ensure_default_models(session)
    session.commit()
    return world


def event(user, tokens: int, **kw) -> dict:
    """A gpt-4o event with prompt tokens only: billed tokens == tokens."""
    return {"idempotency_key": kw.pop("key", f"k-{next(_keys)}"), "user": user, "model": "gpt-4o",
            "prompt_tokens": tokens, "completion_tokens": 0, **kw}


def report(engine, org_id, events, **kw):
    with Session(engine, expire_on_commit=False) as s:
        out = gateway.report_usage(s, actor=gateway_actor(org_id), events=events, **kw)
        s.commit()
        return out


def authorize(engine, org_id, **kw):
    with Session(engine, expire_on_commit=False) as s:
        out = gateway.authorize(s, actor=gateway_actor(org_id), **kw)
        s.commit()
        return out


def ledger_total(session, user_id=None) -> int:
    q = select(UsageEvent.billed_tokens)
    if user_id is not None:
        q = q.where(UsageEvent.user_id == user_id)
    total = sum(session.exec(q).all())
    session.commit()
    return total


def reservation(session, public_id) -> Reservation:
    r = session.exec(select(Reservation).where(Reservation.public_id == public_id)).one()
    session.commit()
    return r

