"""Paid on/off (default allocation on activation), one-click disable, mark verified: scope, audit, bad input."""

import pytest
from sqlmodel import select

from models import AuditEvent
from services.core import settings
from services.core.errors import Forbidden, Invalid, NotFound
from services.users.accounts import create_user
from services.users.user_admin import disable, set_paid, set_verified
from tests.conftest import snapshot


def _actions(session, target_id):
    return [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.target_id == target_id)
                                           .order_by(AuditEvent.seq)).all()]


def test_activation_gives_the_default_allocation_only_when_there_is_none(world, session):
    admin = world.actor(world.admin)
    unpaid = create_user(session, actor=admin, email="new@a.test", paid=False).value
    assert unpaid.max_tokens == 0
    result = set_paid(session, actor=admin, user_id=unpaid.id, paid=True)
    assert unpaid.paid and unpaid.max_tokens == settings.DEFAULT_ALLOCATION
    assert result.warnings == []
    # Bob keeps his 300K: activation never overwrites an allocation
    set_paid(session, actor=admin, user_id=world.bob.id, paid=False)
    assert not world.bob.paid and world.bob.max_tokens == 300_000
    set_paid(session, actor=admin, user_id=world.bob.id, paid=True)
    assert world.bob.max_tokens == 300_000
    assert _actions(session, world.bob.id)[-2:] == ["user.unpaid", "user.paid"]
    assert _actions(session, unpaid.id)[-1] == "user.paid"


def test_disable_sets_not_paid_and_caps_to_zero_audited(world, session):
    disable(session, actor=world.actor(world.admin), user_id=world.alice.id)
    assert not world.alice.paid and world.alice.max_tokens == 0 and world.alice.max_training_tokens == 0
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "user.disable")).one()
    assert event.before["max_tokens"] == 500_000 and event.after["max_tokens"] == 0
    with pytest.raises(Forbidden, match="yourself"):
        disable(session, actor=world.actor(world.admin), user_id=world.admin.id)


def test_mark_verified(world, session):
    assert not world.alice.verified
    set_verified(session, actor=world.actor(world.admin), user_id=world.alice.id)
    assert world.alice.verified and _actions(session, world.alice.id)[-1] == "user.verify_email"


@pytest.mark.parametrize("call", [
    lambda s, w: set_paid(s, actor=w.actor(w.other_admin), user_id=w.alice.id, paid=False),
    lambda s, w: disable(s, actor=w.actor(w.other_admin), user_id=w.alice.id),
    lambda s, w: set_verified(s, actor=w.actor(w.other_admin), user_id=w.alice.id),
    lambda s, w: set_paid(s, actor=w.actor(w.admin), user_id="1", paid=False),
    lambda s, w: disable(s, actor=w.actor(w.admin), user_id=10**30),
])
def test_other_org_or_bad_ids_look_missing_and_change_nothing(world, session, engine, call):
    session.commit()
    before = snapshot(engine)
    with pytest.raises(NotFound):
        call(session, world)
    session.rollback()
    assert snapshot(engine) == before


def test_finance_members_and_bad_flags_are_refused(world, session):
    for who in (world.finance, world.bob):
        with pytest.raises(Forbidden):
            set_paid(session, actor=world.actor(who), user_id=world.alice.id, paid=False)
    with pytest.raises(Invalid):
        set_paid(session, actor=world.actor(world.admin), user_id=world.alice.id, paid="no")


def test_org_admin_cannot_touch_a_super_admin(world, session):
    world.super_user.org_id = world.org.id
    session.add(world.super_user)
    session.flush()
    with pytest.raises(Forbidden):
        disable(session, actor=world.actor(world.admin), user_id=world.super_user.id)
