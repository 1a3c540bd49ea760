"""Purchases, the pool (unexpired purchases) and the summary numbers."""

from datetime import timedelta

import pytest

from models import utcnow
from services.core.actor import system_actor
from services.core.errors import Forbidden, Invalid, NotFound
from services.orgs import organizations
from services.tokens.pool import compute_summary, org_summary, pool
from tests.conftest import snapshot


def test_pool_counts_only_unexpired_purchases_and_shows_closest_expiry(world, session):
    now = utcnow()
    a = system_actor(world.org.id)
    organizations.record_purchase(session, actor=a, org_id=world.org.id, tokens=6_000_000,
                         purchased_at=now - timedelta(days=400), expires_at=now - timedelta(days=1))  # expired
    organizations.record_purchase(session, actor=a, org_id=world.org.id, tokens=2_000_000,
                         purchased_at=now - timedelta(days=5), expires_at=now + timedelta(days=7))
    organizations.record_purchase(session, actor=a, org_id=world.org.id, tokens=2_000_000)  # never expires
    session.commit()
    tokens, training, closest, _ = pool(session, world.org.id, now)
    assert tokens == 4_000_000 + 2_000_000 + 2_000_000
    assert training == 2_000_000
    assert abs((closest - (now + timedelta(days=7))).total_seconds()) < 1
    # eight days later the 7-day purchase has expired and the 300-day one is the closest
    tokens, _, closest, _ = pool(session, world.org.id, now + timedelta(days=8))
    assert tokens == 6_000_000
    assert closest > now + timedelta(days=299)


def test_expiry_boundary_is_exclusive(world, session):
    now = utcnow()
    exp = now + timedelta(days=3)
    organizations.record_purchase(session, actor=system_actor(world.org.id), org_id=world.org.id, tokens=2_000_000,
                         purchased_at=now, expires_at=exp)
    session.commit()
    assert pool(session, world.org.id, exp - timedelta(microseconds=1))[0] == 6_000_000
    assert pool(session, world.org.id, exp)[0] == 4_000_000


def test_summary_numbers_and_overbooking(world, session):
    s = compute_summary(session, world.org.id)
    assigned = sum(u.max_tokens for u in (world.admin, world.finance, world.alice, world.bob))
    assert s.users == 4
    assert s.tokens.purchased == 4_000_000
    assert s.tokens.assigned == assigned
    assert s.tokens.unassigned == 4_000_000 - assigned
    assert s.tokens.overbooked_by == 0 and s.warnings == []
    world.alice.max_tokens = 5_000_000
    session.add(world.alice)
    session.commit()
    s = compute_summary(session, world.org.id)
    excess = s.tokens.assigned - 4_000_000
    assert excess > 0 and s.tokens.overbooked_by == excess and s.tokens.unassigned == -excess
    assert f"{excess:,}" in s.warnings[0]


@pytest.mark.parametrize("tokens,message", [
    (1_000_000, "multiples of 2,000,000"),
    (-2_000_000, "cannot be negative"),
    ("12abc", "whole number"),
    (2.5, "whole number"),
    (2**63, "too large"),
    (0, "needs tokens"),
])
def test_bad_purchases_are_rejected_and_change_nothing(world, session, engine, tokens, message):
    before = snapshot(engine)
    with pytest.raises(Invalid) as e:
        organizations.record_purchase(session, actor=system_actor(world.org.id), org_id=world.org.id, tokens=tokens)
    session.rollback()
    assert message in e.value.message
    assert snapshot(engine) == before


def test_purchase_expiry_must_follow_purchase_date(world, session):
    now = utcnow()
    with pytest.raises(Invalid, match="after the purchase date"):
        organizations.record_purchase(session, actor=system_actor(world.org.id), org_id=world.org.id, tokens=2_000_000,
                             purchased_at=now, expires_at=now - timedelta(days=1))


def test_only_super_admins_record_purchases_and_admins_see_only_their_org(world, session):
    with pytest.raises(Forbidden):
        organizations.record_purchase(session, actor=world.actor(world.admin), org_id=world.org.id, tokens=2_000_000)
    with pytest.raises(NotFound):
        org_summary(session, actor=world.actor(world.admin), org_id=world.other_org.id)
    with pytest.raises(Forbidden):
        org_summary(session, actor=world.actor(world.alice))
    assert org_summary(session, actor=world.actor(world.finance)).org_id == world.org.id
    with pytest.raises(NotFound):
        organizations.record_purchase(session, actor=system_actor(), org_id=999_999, tokens=2_000_000)


def test_org_names_and_domains_are_unique(world, session, engine):
    before = snapshot(engine)
    with pytest.raises(Exception, match="already exists"):
        organizations.create_org(session, actor=system_actor(), name="org a")
    session.rollback()
    with pytest.raises(Exception, match="already uses the domain"):
        organizations.create_org(session, actor=system_actor(), name="Org C", email_domain="A.test")
    session.rollback()
    with pytest.raises(Invalid, match="not a valid email domain"):
        organizations.create_org(session, actor=system_actor(), name="Org C", email_domain="not a domain")
    session.rollback()
    assert snapshot(engine) == before
