"""Shared set-up for the gateway tests: the conftest world, the default models, and small helpers (also the
loopback HTTP server the `http` fixture of tests/services/conftest.py starts)."""

import threading
from contextlib import contextmanager
from itertools import count

import httpx
import uvicorn
from sqlmodel import Session, select

from bench.gateway_server import free_port
from models import Reservation, UsageEvent
from services.gateway import authorization, reports
from services.orgs import catalog
from services.usage.ledger import gateway_actor

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
        out = reports.report_usage(s, actor=gateway_actor(org_id), events=events, **kw)
        s.commit()
        return out


def authorize(engine, org_id, **kw):
    with Session(engine, expire_on_commit=False) as s:
        out = authorization.authorize(s, actor=gateway_actor(org_id), **kw)
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



@contextmanager
def serve(app):
    """uvicorn serving `app` on a free loopback port (41000-41999) in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            thread.join(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def client(w, i: int) -> httpx.Client:
    """A client of app instance i % 2 of the `http` fixture, with its API key."""
    return httpx.Client(base_url=w.urls[i % 2], headers=w.headers, timeout=60)
