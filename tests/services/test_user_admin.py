"""Ban and role-change rules (scope, self, super admins, last super admin, MFA for promotion, step-up)."""

from dataclasses import replace
from datetime import timedelta

import pytest

from models import Role, utcnow
from services.auth import sessions
from services.core.actor import system_actor
from services.core.errors import Forbidden, Invalid, NotFound, StepUpRequired
from services.users.accounts import create_user
from services.users.user_admin import set_ban, set_role
from tests.conftest import snapshot


def fresh(actor):
    return replace(actor, mfa_verified_at=utcnow())


def test_admin_bans_with_reason_and_end_date_and_sessions_end(world, session):
    tok = sessions.create(session, world.alice)
    until = utcnow() + timedelta(days=3)
    set_ban(session, actor=fresh(world.actor(world.admin)), user_id=world.alice.id, banned=True,
            reason="Abuse", until=until)
    session.commit()
    assert world.alice.banned and world.alice.ban_reason == "Abuse" and world.alice.banned_until == until
    assert sessions.resolve(session, tok) is None
    set_ban(session, actor=fresh(world.actor(world.admin)), user_id=world.alice.id, banned=False)
    assert not world.alice.banned and world.alice.banned_until is None


def test_ban_needs_a_reason_a_future_end_and_step_up(world, session, engine):
    before = snapshot(engine)
    admin = world.actor(world.admin)
    with pytest.raises(Invalid, match="Reason is required"):
        set_ban(session, actor=fresh(admin), user_id=world.alice.id, banned=True)
    with pytest.raises(Invalid, match="future"):
        set_ban(session, actor=fresh(admin), user_id=world.alice.id, banned=True, reason="x",
                until=utcnow() - timedelta(days=1))
    with pytest.raises(StepUpRequired):
        set_ban(session, actor=admin, user_id=world.alice.id, banned=True, reason="x")
    stale = replace(admin, mfa_verified_at=utcnow() - timedelta(minutes=11))
    with pytest.raises(StepUpRequired):
        set_ban(session, actor=stale, user_id=world.alice.id, banned=True, reason="x")
    session.rollback()
    assert snapshot(engine) == before


def test_no_self_ban_no_self_demotion(world, session):
    admin = fresh(world.actor(world.admin))
    with pytest.raises(Forbidden, match="yourself"):
        set_ban(session, actor=admin, user_id=world.admin.id, banned=True, reason="x")
    with pytest.raises(Forbidden, match="your own role"):
        set_role(session, actor=admin, user_id=world.admin.id, role="member")


def test_org_admin_cannot_touch_super_admins_or_other_orgs(world, session):
    admin = fresh(world.actor(world.admin))
    world.super_user.org_id = world.org.id
    session.add(world.super_user)
    session.commit()
    with pytest.raises(Forbidden, match="super admin"):
        set_ban(session, actor=admin, user_id=world.super_user.id, banned=True, reason="x")
    with pytest.raises(NotFound):
        set_ban(session, actor=admin, user_id=world.carol.id, banned=True, reason="x")
    with pytest.raises(Forbidden, match="not allowed to grant"):
        set_role(session, actor=admin, user_id=world.alice.id, role="super_admin")
    with pytest.raises(Forbidden):
        set_ban(session, actor=fresh(world.actor(world.finance)), user_id=world.alice.id, banned=True, reason="x")


def test_last_super_admin_is_protected_and_promotion_needs_mfa(world, session):
    sup = fresh(world.actor(world.super_user, org_id=world.org.id))
    second = create_user(session, actor=sup, email="second@a.test", role=Role.admin.value).value
    with pytest.raises(Forbidden, match="set up MFA"):
        set_role(session, actor=sup, user_id=second.id, role="super_admin")
    second.mfa_enabled = True
    set_role(session, actor=sup, user_id=second.id, role="super_admin")
    session.commit()
    assert second.role == "super_admin"
    other = fresh(world.actor(second, org_id=None))
    set_role(session, actor=other, user_id=world.super_user.id, role="admin")  # allowed: one remains
    session.commit()
    assert world.super_user.role == "admin"
    # `second` is now the only super admin: not even the system (CLI) can ban or demote them
    with pytest.raises(Forbidden, match="last super admin cannot be banned"):
        set_ban(session, actor=system_actor(), user_id=second.id, banned=True, reason="x")
    with pytest.raises(Forbidden, match="last super admin cannot be demoted"):
        set_role(session, actor=system_actor(), user_id=second.id, role="admin")
    with pytest.raises(Forbidden, match="Only a super admin"):
        set_ban(session, actor=fresh(world.actor(world.admin)), user_id=second.id, banned=True, reason="x")


def test_role_change_is_audited(world, session):
    from sqlmodel import select

    from models import AuditEvent

    set_role(session, actor=fresh(world.actor(world.admin)), user_id=world.alice.id, role="finance")
    session.commit()
    ev = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert ev.action == "user.role" and ev.before == {"role": "member"} and ev.after == {"role": "finance"}


def test_role_change_needs_a_fresh_mfa_code(world, session, engine):
    before = snapshot(engine)
    admin = world.actor(world.admin)
    with pytest.raises(StepUpRequired):
        set_role(session, actor=admin, user_id=world.alice.id, role="finance")
    stale = replace(admin, mfa_verified_at=utcnow() - timedelta(minutes=11))
    with pytest.raises(StepUpRequired):
        set_role(session, actor=stale, user_id=world.alice.id, role="admin")
    session.rollback()
    assert snapshot(engine) == before
    set_role(session, actor=fresh(admin), user_id=world.alice.id, role="finance")  # a fresh code: done
    session.commit()
    assert world.alice.role == "finance"
