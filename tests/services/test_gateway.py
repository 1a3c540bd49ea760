"""services.gateway authorization, reports, expiry and balances: authorize (reasons, remaining, reservations),
usage reports that settle reservations, expiry, balance and summary — on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models import AIModel, OrgAllowedModel, Organization, Purchase, UsageEvent, User, utcnow
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.gateway import authorization, balances, expiry
from services.usage.ledger import gateway_actor
from tests.conftest import snapshot
from tests.services.gateway_helpers import authorize, event, ledger_total, report, reservation, setup

ALICE_CAP = 500_000


@pytest.fixture
def w(world, session):
    return setup(world, session)


def test_authorize_allowed_with_remaining_amounts(engine, w):
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1000)
    assert (d.allowed, d.reason, d.user_remaining, d.remaining, d.reservation_id) == (
        True, "ok", ALICE_CAP, ALICE_CAP, None)
    assert d.org_remaining == 4_000_000
    by_email = authorize(engine, w.org.id, user="ALICE@a.test", model="gpt-4o", tokens=1000)
    assert by_email.allowed


@pytest.mark.parametrize("ref", [999_999, "nobody@a.test", "carol@b.test"])
def test_unknown_or_other_org_user_is_unknown_user(engine, w, ref):
    ref = ref if ref != "carol@b.test" else w.carol.id
    d = authorize(engine, w.org.id, user=ref, model="gpt-4o", tokens=1)
    assert (d.allowed, d.reason, d.remaining) == (False, "unknown_user", 0)


def test_denial_reasons_in_order(engine, w, session):
    u = session.get(User, w.alice.id)
    u.banned = True
    session.add(u)
    session.commit()
    assert authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1).reason == "banned"
    u.banned, u.paid = False, False
    session.add(u)
    session.commit()
    assert authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1).reason == "not_paid"
    u.paid = True
    session.add(u)
    other = session.exec(select(AIModel).where(AIModel.name == "gpt-4o-mini")).one()
    session.add(OrgAllowedModel(org_id=w.org.id, model_id=other.id))
    session.commit()
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1)
    assert (d.allowed, d.reason) == (False, "model_not_allowed")
    assert authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o-mini", tokens=1).allowed


def test_cap_pool_and_org_monthly_cap_reasons(engine, w, session):
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=ALICE_CAP + 1)
    assert (d.allowed, d.reason, d.user_remaining) == (False, "monthly_cap_reached", ALICE_CAP)
    org = session.get(Organization, w.org.id)
    org.monthly_token_cap = 1000
    session.add(org)
    session.commit()
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1001)
    assert (d.allowed, d.reason, d.org_remaining) == (False, "org_monthly_cap_reached", 1000)
    org.monthly_token_cap = None
    session.add(org)
    for p in session.exec(select(Purchase).where(Purchase.org_id == w.org.id)).all():
        p.tokens = 100
        session.add(p)
    session.commit()
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=101)
    assert (d.allowed, d.reason, d.org_remaining) == (False, "org_pool_exhausted", 100)


@pytest.mark.parametrize("kw,field", [
    ({"tokens": -1}, "tokens"), ({"tokens": 0}, "tokens"), ({"tokens": 2**63}, "tokens"), ({"tokens": "x"}, "tokens"),
    ({"tokens": True}, "tokens"), ({"kind": "gold"}, "kind"), ({"model": "nope"}, "model"), ({"model": 5}, "model"),
    ({"user": None}, "user"), ({"user": "alice"}, "user"), ({"user": [1]}, "user"), ({"reserve": "yes"}, "reserve"),
    ({"reserve": True, "ttl_seconds": 0}, "ttl_seconds"), ({"reserve": True, "ttl_seconds": 10**9}, "ttl_seconds"),
])
def test_authorize_rejects_bad_arguments_and_writes_nothing(engine, w, kw, field):
    before = snapshot(engine)
    args = {"user": w.alice.id, "model": "gpt-4o", "tokens": 10, **kw}
    with pytest.raises((Invalid, NotFound)) as err:
        authorize(engine, w.org.id, **args)
    assert err.value.field == field
    assert snapshot(engine) == before


def test_only_the_gateway_may_authorize(engine, w, session):
    with pytest.raises(Forbidden):
        authorization.authorize(session, actor=w.actor(w.admin), user=w.alice.id, model="gpt-4o", tokens=1)
    session.rollback()


def test_reservation_holds_tokens_until_settled(engine, w, session):
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=200_000, reserve=True)
    assert d.allowed and d.reservation_id.startswith("rsv_") and d.reserved == 200_000
    assert d.user_remaining == ALICE_CAP - 200_000
    assert d.expires_at > utcnow() + timedelta(seconds=250)
    # The hold counts: a second request for more than what is left is refused.
    d2 = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=300_001, reserve=True)
    assert (d2.allowed, d2.reason, d2.user_remaining) == (False, "monthly_cap_reached", 300_000)
    # Settling with less than reserved releases the rest.
    res = report(engine, w.org.id, [event(w.alice.id, 150_000, key="s1", reservation_id=d.reservation_id)])
    assert [r.duplicate for r in res] == [False]
    r = reservation(session, d.reservation_id)
    assert (r.status, r.settled_key) == ("settled", "s1")
    b = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1)
    assert b.user_remaining == ALICE_CAP - 150_000
    # A retry of the same report is acknowledged and changes nothing; another key may not settle it again.
    again = report(engine, w.org.id, [event(w.alice.id, 150_000, key="s1", reservation_id=d.reservation_id)])
    assert [r.duplicate for r in again] == [True]
    before = snapshot(engine)
    with pytest.raises(Conflict):
        report(engine, w.org.id, [event(w.alice.id, 1, key="s2", reservation_id=d.reservation_id)])
    assert snapshot(engine) == before
    assert ledger_total(session, w.alice.id) == 150_000


def test_settling_checks_user_kind_org_and_expiry(engine, w, session):
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1000, reserve=True, ttl_seconds=60)
    before = snapshot(engine)
    with pytest.raises(Conflict):  # another user
        report(engine, w.org.id, [event(w.bob.id, 10, reservation_id=d.reservation_id)])
    with pytest.raises(Conflict):  # another kind
        report(engine, w.org.id, [event(w.alice.id, 10, kind="training", reservation_id=d.reservation_id)])
    with pytest.raises(NotFound):  # another org's key cannot see it
        report(engine, w.other_org.id, [event(w.carol.id, 10, reservation_id=d.reservation_id)])
    with pytest.raises(NotFound):
        report(engine, w.org.id, [event(w.alice.id, 10, reservation_id="rsv_nope")])
    with pytest.raises(Invalid):
        report(engine, w.org.id, [event(w.alice.id, 10, reservation_id=12)])
    with pytest.raises(Conflict):  # past its expiry
        report(engine, w.org.id, [event(w.alice.id, 10, reservation_id=d.reservation_id)],
               now=utcnow() + timedelta(seconds=61))
    assert snapshot(engine) == before


def test_expired_reservations_stop_counting_and_are_swept(engine, w, session):
    d = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=ALICE_CAP, reserve=True, ttl_seconds=30)
    assert authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1).reason == "monthly_cap_reached"
    later = utcnow() + timedelta(seconds=31)
    assert authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=ALICE_CAP, now=later).allowed
    with Session(engine) as s:
        assert expiry.expire_reservations(s, now=later) == 1
        s.commit()
    assert reservation(session, d.reservation_id).status == "expired"
    with Session(engine) as s:
        assert expiry.expire_reservations(s, now=later) == 0
        s.commit()


def test_org_holds_count_against_the_pool_for_every_user(engine, w, session):
    for p in session.exec(select(Purchase).where(Purchase.org_id == w.org.id)).all():
        p.tokens = 250_000
        session.add(p)
    session.commit()
    assert authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=200_000, reserve=True).allowed
    d = authorize(engine, w.org.id, user=w.bob.id, model="gpt-4o", tokens=50_001, reserve=True)
    assert (d.allowed, d.reason, d.org_remaining) == (False, "org_pool_exhausted", 50_000)
    assert authorize(engine, w.org.id, user=w.bob.id, model="gpt-4o", tokens=50_000, reserve=True).allowed


def test_batch_is_atomic_and_retries_are_idempotent(engine, w, session):
    before = snapshot(engine)
    bad = [event(w.alice.id, 10), event(w.bob.id, 20), event(w.alice.id, -5)]
    with pytest.raises(Invalid):
        report(engine, w.org.id, bad)
    assert snapshot(engine) == before
    good = [event(w.alice.id, 10, key="b1"), event(w.bob.id, 20, key="b2")]
    assert [r.duplicate for r in report(engine, w.org.id, good)] == [False, False]
    mixed = good + [event(w.alice.id, 5, key="b3")]
    assert [r.duplicate for r in report(engine, w.org.id, mixed)] == [True, True, False]
    assert ledger_total(session) == 35
    assert len(session.exec(select(UsageEvent)).all()) == 3
    session.commit()


def test_oversized_or_empty_batch_rejected(engine, w):
    with pytest.raises(Invalid):
        report(engine, w.org.id, [])
    with pytest.raises(Invalid):
        report(engine, w.org.id, [event(w.alice.id, 1) for _ in range(1001)])


def test_balance_and_summary_are_scoped_to_the_key_org(engine, w, session):
    authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=1000, reserve=True)
    report(engine, w.org.id, [event(w.alice.id, 500)])
    with Session(engine) as s:
        b = balances.balance(s, actor=gateway_actor(w.org.id), user_id=w.alice.id)
        assert (b["cap"], b["used_this_month"], b["reserved"], b["user_remaining"]) == (
            ALICE_CAP, 500, 1000, ALICE_CAP - 1500)
        for bad in (w.carol.id, 10**9, "1", True):
            with pytest.raises(NotFound):
                balances.balance(s, actor=gateway_actor(w.org.id), user_id=bad)
        summ = balances.org_summary(s, actor=gateway_actor(w.org.id))
        assert (summ["org_id"], summ["tokens"]["purchased"], summ["tokens"]["reserved"]) == (w.org.id, 4_000_000, 1000)
        assert summ["tokens"]["used_this_month"] == 500
        other = balances.org_summary(s, actor=gateway_actor(w.other_org.id))
        assert other["tokens"]["used_this_month"] == 0
        s.rollback()
