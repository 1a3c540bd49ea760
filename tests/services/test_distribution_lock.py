"""One run per org at a time. While the org's lock is held, allocation edits, pins, policy edits, approvals,
paid on/off, disabling and other runs get "distribution in progress — retry in N s" and change nothing; an
expired lock (a crashed run) is taken over. Real threads show a second run refused while a first one is in
progress (PostgreSQL: a committed lock row; SQLite: the run's write transaction makes the second one wait for it)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from models import DistributionLock, DistributionRun
from services.core.errors import Conflict
from services.tokens import requests
from services.tokens.allocation import set_allocation, set_pinned
from services.tokens.distribution import lock, policy, runs
from services.users import user_admin
from tests.conftest import snapshot
from tests.services.dist_helpers import build_org, caps

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _hold(session, org_id, seconds=40, now=NOW):
    session.add(DistributionLock(org_id=org_id, holder_id=None, acquired_at=now,
                                 expires_at=now + timedelta(seconds=seconds)))
    session.commit()


def test_edits_and_approvals_during_a_run_conflict_and_change_nothing(session, engine, monkeypatch):
    o = build_org(session, [300_000, 300_000])
    req = requests.submit_request(session, actor=o.member_actor(0), kind="tokens", amount=100_000, now=NOW)
    session.commit()
    _hold(session, o.id, seconds=40, now=datetime.now(UTC))
    before = snapshot(engine)
    admin = o.actor()
    attempts = [
        lambda: set_allocation(session, actor=admin, user_id=o.members[0].id, max_tokens=500_000),
        lambda: set_pinned(session, actor=admin, user_id=o.members[0].id, pinned=True),
        lambda: policy.apply_preset(session, actor=admin, kind="tokens", preset="standard"),
        lambda: policy.set_override(session, actor=admin, user_id=o.members[0].id, kind="tokens", floor=1),
        lambda: requests.approve(session, actor=admin, request_id=req.id),
        lambda: runs.execute(session, actor=admin, kind="tokens", strategy="equal"),
        lambda: user_admin.set_paid(session, actor=admin, user_id=o.members[0].id, paid=False),
        lambda: user_admin.disable(session, actor=admin, user_id=o.members[1].id),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict, match=r"Distribution in progress — retry in \d+ s") as e:
            attempt()
        assert 1 <= e.value.retry_after <= 40
        session.rollback()
    assert snapshot(engine) == before


def test_an_expired_lock_is_taken_over(session):
    o = build_org(session, [0, 0])
    _hold(session, o.id, seconds=10, now=NOW - timedelta(minutes=5))
    runs.execute(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    session.commit()
    assert caps(session, o.members) == [1_000_000, 1_000_000]
    assert session.exec(select(DistributionLock)).all() == []  # released with the run


def test_a_failed_run_releases_the_lock(session):
    o = build_org(session, [0, 0])
    with pytest.raises(Conflict):
        runs.execute(session, actor=o.actor(), kind="tokens", strategy="equal", expected="stale", now=NOW)
    session.rollback()
    assert session.exec(select(DistributionLock)).all() == []
    set_allocation(session, actor=o.actor(), user_id=o.members[0].id, max_tokens=400_000)  # not blocked
    session.commit()


def test_a_second_run_during_a_first_one(engine, session):
    """Thread A holds the run lock mid-run; thread B starts a run for the same org."""
    o = build_org(session, [0, 0])
    session.close()
    inside, release = threading.Event(), threading.Event()
    out: dict = {}

    def first():
        with Session(engine, expire_on_commit=False) as s:
            with lock.run_lock(s, o.id, holder_id=o.admin.id, n_users=3):
                runs.build_plan(s, o.id, "tokens", "equal")
                inside.set()
                release.wait(20)
            s.commit()
            out["a_done"] = datetime.now(UTC)

    def second():
        inside.wait(20)
        with Session(engine, expire_on_commit=False) as s:
            try:
                runs.execute(s, actor=o.actor(), kind="tokens", strategy="equal")
                s.commit()
                out["b"] = "ran"
                out["b_done"] = datetime.now(UTC)
            except Conflict as e:
                s.rollback()
                out["b"] = e.message

    ta, tb = threading.Thread(target=first), threading.Thread(target=second)
    ta.start()
    tb.start()
    inside.wait(20)
    tb.join(1.0)  # B is either refused at once (PostgreSQL) or waiting for A's transaction (SQLite)
    release.set()
    ta.join(30)
    tb.join(30)
    with Session(engine) as s:
        n_runs = len(s.exec(select(DistributionRun)).all())
    if engine.dialect.name == "postgresql":
        assert out["b"].startswith("Distribution in progress — retry in")
        assert n_runs == 0
    else:
        assert out["b"] == "ran" and out["b_done"] >= out["a_done"]  # strictly after A, never alongside
        assert n_runs == 1
