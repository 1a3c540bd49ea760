"""Allocation edits: clamping into floor/ceiling, overrides, overbooking, pinning, atomic batches, scope."""

from dataclasses import replace
from datetime import timedelta

import pytest

from models import DistributionPolicy, utcnow
from services.core import settings
from services.core.errors import Forbidden, Invalid, NotFound, StepUpRequired
from services.tokens.allocation import set_allocation, set_allocations, set_pinned
from tests.conftest import snapshot


def _fresh(actor):
    """The actor with MFA verified just now (large raises need a fresh code)."""
    return replace(actor, mfa_verified_at=utcnow())


def _policy(session, org_id, floor=200_000, ceiling=1_000_000, kind="tokens"):
    session.add(DistributionPolicy(org_id=org_id, kind=kind, floor=floor, ceiling=ceiling))
    session.commit()


def test_values_are_clamped_into_the_policy_with_a_warning(world, session):
    _policy(session, world.org.id)
    admin = world.actor(world.admin)
    r = set_allocations(session, actor=admin, changes=[
        {"user_id": world.alice.id, "max_tokens": 5_000_000},
        {"user_id": world.bob.id, "max_tokens": 1000},
    ])
    session.commit()
    session.refresh(world.alice)
    session.refresh(world.bob)
    assert world.alice.max_tokens == 1_000_000
    assert world.bob.max_tokens == 200_000
    assert any("alice@a.test" in w and "ceiling of 1,000,000" in w for w in r.warnings)
    assert any("bob@a.test" in w and "floor of 200,000" in w for w in r.warnings)


def test_per_user_override_beats_the_policy(world, session):
    _policy(session, world.org.id)
    world.alice.ceiling_override = 3_000_000
    session.add(world.alice)
    session.commit()
    r = set_allocation(session, actor=_fresh(world.actor(world.admin)), user_id=world.alice.id, max_tokens=2_500_000)
    session.commit()
    assert world.alice.max_tokens == 2_500_000
    assert not any("ceiling" in w for w in r.warnings)


def test_without_a_policy_the_enterprise_minimum_is_the_floor(world, session):
    r = set_allocation(session, actor=world.actor(world.admin), user_id=world.bob.id, max_tokens=50_000)
    session.commit()
    assert world.bob.max_tokens == 200_000
    assert "floor of 200,000" in r.warnings[0]


def test_overbooking_is_allowed_but_reported_with_the_excess(world, session):
    r = set_allocation(session, actor=_fresh(world.actor(world.admin)), user_id=world.alice.id, max_tokens=4_000_000)
    session.commit()
    assigned = 4_000_000 + world.bob.max_tokens + world.admin.max_tokens + world.finance.max_tokens
    excess = assigned - 4_000_000
    assert world.alice.max_tokens == 4_000_000
    assert any(f"Overbooked: {excess:,}" in w for w in r.warnings)


@pytest.mark.parametrize("value,message", [
    (-5, "cannot be negative"), ("ten", "whole number"), (1.5, "whole number"), (2**63, "too large"),
    (True, "whole number"), ("99999999999999999999", "too large"),
])
def test_a_bad_value_in_a_batch_changes_nothing(world, session, engine, value, message):
    before = snapshot(engine)
    with pytest.raises(Invalid) as e:
        set_allocations(session, actor=world.actor(world.admin), changes=[
            {"user_id": world.alice.id, "max_tokens": 700_000},
            {"user_id": world.bob.id, "max_tokens": value},
        ])
    session.rollback()
    assert message in e.value.message and "bob@a.test" in e.value.message
    assert snapshot(engine) == before


def test_scope_another_orgs_user_looks_missing_and_members_cannot_edit(world, session, engine):
    before = snapshot(engine)
    with pytest.raises(NotFound) as other:
        set_allocation(session, actor=world.actor(world.admin), user_id=world.carol.id, max_tokens=300_000)
    with pytest.raises(NotFound) as missing:
        set_allocation(session, actor=world.actor(world.admin), user_id=987_654, max_tokens=300_000)
    assert other.value.message == missing.value.message
    with pytest.raises(Forbidden):
        set_allocation(session, actor=world.actor(world.alice), user_id=world.alice.id, max_tokens=900_000)
    with pytest.raises(Forbidden):
        set_allocation(session, actor=world.actor(world.finance), user_id=world.alice.id, max_tokens=900_000)
    with pytest.raises(NotFound):
        set_allocation(session, actor=world.actor(world.admin), user_id="1 OR 1=1", max_tokens=900_000)
    session.rollback()
    assert snapshot(engine) == before


def test_super_admin_acts_in_the_chosen_org(world, session):
    sup = world.actor(world.super_user, org_id=world.other_org.id)
    set_allocation(session, actor=sup, user_id=world.carol.id, max_tokens=600_000)
    session.commit()
    assert world.carol.max_tokens == 600_000
    with pytest.raises(NotFound):
        set_allocation(session, actor=sup, user_id=world.alice.id, max_tokens=600_000)


def test_pin_is_audited(world, session):
    from sqlmodel import select

    from models import AuditEvent

    set_pinned(session, actor=world.actor(world.admin), user_id=world.alice.id, pinned=True)
    session.commit()
    assert world.alice.pinned is True
    ev = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert ev.action == "allocation.pin" and ev.before["pinned"] is False and ev.after["pinned"] is True
    with pytest.raises(Invalid):
        set_pinned(session, actor=world.actor(world.admin), user_id=world.alice.id, pinned="yes")


def test_raising_a_cap_by_more_than_the_grant_limit_needs_a_fresh_mfa_code(world, engine, session):
    admin = world.actor(world.admin)
    start = world.alice.max_tokens
    limit = settings.STEP_UP_GRANT_TOKENS
    set_allocation(session, actor=admin, user_id=world.alice.id, max_tokens=start + limit)  # up to the limit: fine
    session.commit()
    before = snapshot(engine)
    with pytest.raises(StepUpRequired):  # one more token over it, in a batch with a small edit: nothing changes
        set_allocations(session, actor=admin, changes=[
            {"user_id": world.bob.id, "max_tokens": 300_000},
            {"user_id": world.alice.id, "max_tokens": start + 2 * limit + 1}])
    session.rollback()
    assert snapshot(engine) == before
    stale = replace(admin, mfa_verified_at=utcnow() - timedelta(minutes=settings.STEP_UP_MINUTES + 1))
    with pytest.raises(StepUpRequired):
        set_allocation(session, actor=stale, user_id=world.alice.id, max_tokens=start + 2 * limit + 1)
    session.rollback()
    set_allocation(session, actor=_fresh(admin), user_id=world.alice.id, max_tokens=start + 2 * limit + 1)
    session.commit()
    session.refresh(world.alice)
    assert world.alice.max_tokens == start + 2 * limit + 1
