"""Token requests: submission rules (one pending per kind, cooldown after a denial, ≤ 500 characters), the
admin queue, approve (other amount, temporary grant, pool warning, step-up) and deny, auto-approval, scope,
and exactly-once approval with 16 real concurrent approvers."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from models import AuditEvent, TokenRequest, User
from services.core import settings
from services.core.errors import Conflict, Forbidden, Invalid, NotFound, StepUpRequired
from services.tokens import requests as tr
from tests.conftest import snapshot
from tests.services.dist_helpers import add_usage, build_org, caps, set_policy

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_submit_rules(session, engine):
    o = build_org(session, [300_000, 300_000])
    add_usage(session, o.id, o.members[0].id, 120_000, NOW - timedelta(hours=3))
    me = o.member_actor(0)
    r = tr.submit_request(session, actor=me, kind="tokens", amount="250,000", reason=" need more ", now=NOW)
    session.commit()
    assert (r.amount, r.reason, r.status, r.allocation_at_request, r.used_at_request, r.source) == (
        250_000, "need more", "pending", 300_000, 120_000, "member")
    with pytest.raises(Conflict, match="already have a pending request"):
        tr.submit_request(session, actor=me, kind="tokens", amount=1, now=NOW)
    session.rollback()
    tr.submit_request(session, actor=me, kind="training", amount=1, now=NOW)  # other kind: fine
    session.commit()
    before = snapshot(engine)
    for bad in ({"amount": 0}, {"amount": -5}, {"amount": "many"}, {"amount": 10**30}, {"amount": None},
                {"amount": settings.REQUEST_MAX_TOKENS + 1}, {"kind": "gold"}, {"reason": "x" * 501},
                {"reason": 42}):
        args = {"kind": "tokens", "amount": 1, "reason": "", **bad}
        with pytest.raises(Invalid):
            tr.submit_request(session, actor=o.member_actor(1), now=NOW, **args)
        session.rollback()
    assert snapshot(engine) == before


def test_cooldown_after_a_denial(session):
    o = build_org(session, [300_000])
    me, admin = o.member_actor(0), o.actor()
    r = tr.submit_request(session, actor=me, kind="tokens", amount=100_000, now=NOW)
    tr.deny(session, actor=admin, request_id=r.id, note="not now", now=NOW)
    session.commit()
    with pytest.raises(Conflict, match="denied; you can ask again after 2026-11-21 12:00"):
        tr.submit_request(session, actor=me, kind="tokens", amount=100_000, now=NOW + timedelta(hours=23))
    session.rollback()
    tr.submit_request(session, actor=me, kind="tokens", amount=100_000, now=NOW + timedelta(hours=24, seconds=1))
    session.commit()


def test_approve_other_amount_with_expiry_and_a_pool_warning(session):
    o = build_org(session, [1_000_000, 800_000])  # 2M purchased: 200K unassigned
    r = tr.submit_request(session, actor=o.member_actor(0), kind="tokens", amount=500_000, now=NOW)
    session.commit()
    assert tr.check_approval(session, actor=o.actor(), request_id=r.id, now=NOW) == [
        "Approving 500,000 goes beyond the unassigned pool of 200,000 (overbooked by 300,000)."]
    assert tr.check_approval(session, actor=o.actor(), request_id=r.id, amount=150_000, now=NOW) == []
    res = tr.approve(session, actor=o.actor(), request_id=r.id, amount=150_000, expires_on="2026-12-15",
                     note="for the demo", now=NOW)
    session.commit()
    assert res.warnings == []
    assert caps(session, o.members) == [1_150_000, 800_000]
    row = session.get(TokenRequest, r.id)
    assert (row.status, row.approved_amount, row.grant_expires_at, row.reviewer_id, row.review_note) == (
        "approved", 150_000, datetime(2026, 12, 15, tzinfo=UTC), o.admin.id, "for the demo")
    page = tr.list_requests(session, actor=o.actor(), tab="approved")
    assert page["counts"] == {"pending": 0, "approved": 1, "denied": 0, "all": 1}
    assert page["rows"][0]["reviewer"] == o.admin.email and page["rows"][0]["current_allocation"] == 1_150_000
    with pytest.raises(Conflict, match="already reviewed"):
        tr.deny(session, actor=o.actor(), request_id=r.id, now=NOW)


def test_approve_bad_input_and_scope(session, engine, world):
    o = build_org(session, [300_000])
    r = tr.submit_request(session, actor=o.member_actor(0), kind="tokens", amount=100_000, now=NOW)
    session.commit()
    before = snapshot(engine)
    for bad in ({"amount": -1}, {"amount": "x"}, {"amount": 0}, {"expires_on": "yesterday"},
                {"expires_on": "2020-01-01"}, {"expires_on": 5}, {"note": "n" * 501}):
        with pytest.raises(Invalid):
            tr.approve(session, actor=o.actor(), request_id=r.id, now=NOW, **bad)
        session.rollback()
    for bad_id in (None, "1", True, -3, 10**30, r.id + 1000):
        with pytest.raises(NotFound):
            tr.approve(session, actor=o.actor(), request_id=bad_id, now=NOW)
        session.rollback()
    with pytest.raises(NotFound):  # another org's admin
        tr.approve(session, actor=world.actor(world.admin), request_id=r.id, now=NOW)
    session.rollback()
    with pytest.raises(Forbidden):
        tr.approve(session, actor=o.member_actor(0), request_id=r.id, now=NOW)
    session.rollback()
    with pytest.raises(Invalid):
        tr.list_requests(session, actor=o.actor(), tab="mine")
    session.rollback()
    assert snapshot(engine) == before


def test_large_grants_need_step_up(session):
    o = build_org(session, [300_000], purchased=20_000_000)
    r = tr.submit_request(session, actor=o.member_actor(0), kind="tokens", amount=settings.STEP_UP_GRANT_TOKENS + 1,
                          now=NOW)
    session.commit()
    with pytest.raises(StepUpRequired):
        tr.approve(session, actor=o.actor(), request_id=r.id, now=NOW)
    session.rollback()
    assert session.get(TokenRequest, r.id).status == "pending"
    tr.approve(session, actor=o.actor(mfa_at=NOW - timedelta(minutes=2)), request_id=r.id, now=NOW)
    session.commit()
    assert caps(session, o.members) == [300_000 + settings.STEP_UP_GRANT_TOKENS + 1]


def test_auto_approval_rule(session):
    o = build_org(session, [200_000, 200_000, 200_000], purchased=4_000_000)
    set_policy(session, o.id, auto_approve=True, auto_approve_max=500_000)
    r = tr.submit_request(session, actor=o.member_actor(0), kind="tokens", amount=500_000, now=NOW)
    session.commit()
    assert (r.status, r.auto_approved, r.approved_amount) == ("approved", True, 500_000)
    assert tr.list_requests(session, actor=o.actor(), tab="approved")["rows"][0]["reviewer"] == "auto"
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "request.auto_approve")).one()
    r = tr.submit_request(session, actor=o.member_actor(1), kind="tokens", amount=500_001, now=NOW)  # above max
    assert r.status == "pending"
    add_usage(session, o.id, o.members[2].id, 3_600_000, NOW - timedelta(days=1))  # 90% of the pool used
    r = tr.submit_request(session, actor=o.member_actor(2), kind="tokens", amount=1000, now=NOW)
    session.commit()
    assert r.status == "pending"  # suspended
    assert caps(session, o.members) == [700_000, 200_000, 200_000]


APPROVERS = 16


def test_exactly_once_with_concurrent_approvers(engine, session):
    o = build_org(session, [300_000], purchased=4_000_000)
    admins = [o.actor()]
    for i in range(3):  # several admins of the same org
        u = User(email=f"admin{i}@x.test", role="admin", org_id=o.id, paid=True)
        session.add(u)
        session.commit()
        admins.append(o.actor().__class__(u.id, "admin", o.id, email=u.email))
    r = tr.submit_request(session, actor=o.member_actor(0), kind="tokens", amount=1_000_000, now=NOW)
    session.commit()
    session.close()
    barrier = threading.Barrier(APPROVERS, timeout=60)

    def approve(i):
        barrier.wait()
        with Session(engine, expire_on_commit=False) as s:
            try:
                tr.approve(s, actor=admins[i % len(admins)], request_id=r.id, note=f"#{i}", now=NOW)
                s.commit()
                return "granted"
            except Conflict as e:
                s.rollback()
                return e.message

    with ThreadPoolExecutor(APPROVERS) as pool:
        results = list(pool.map(approve, range(APPROVERS)))
    assert results.count("granted") == 1
    assert sorted(set(results) - {"granted"}) == ["This request was already reviewed."]
    with Session(engine) as s:
        assert s.get(User, o.members[0].id).max_tokens == 1_300_000
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "request.approve")).all()) == 1
