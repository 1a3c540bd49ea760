"""services.api_keys: admins create (shown once, stored hashed) and revoke keys with step-up MFA; audited;
org-scoped; authenticate answers unknown → Unauthorized, revoked → Forbidden."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from models import ApiKey, AuditEvent, utcnow
from services import api_keys
from services.crypto import token_hash
from services.errors import Conflict, Forbidden, Invalid, NotFound, StepUpRequired, Unauthorized
from tests.conftest import snapshot


def fresh(actor):
    return replace(actor, mfa_verified_at=utcnow())


def test_create_shows_the_key_once_and_stores_only_its_hash(world, session):
    admin = fresh(world.actor(world.admin))
    new = api_keys.create_key(session, actor=admin, name="  LiteLLM prod ")
    session.commit()
    row = session.get(ApiKey, new.view.id)
    assert new.secret.startswith("stw_") and len(new.secret) > 40
    assert row.key_hash == token_hash(new.secret) and new.secret not in (row.key_hash, row.prefix)
    assert row.prefix == new.secret[:12] and row.name == "LiteLLM prod" and row.created_by == world.admin.id
    listed = api_keys.list_keys(session, actor=admin)
    assert [(k.name, k.prefix, k.created_by) for k in listed] == [("LiteLLM prod", row.prefix, "admin@a.test")]
    assert not hasattr(listed[0], "secret")
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "api_key.create")).one()
    assert audit.after == {"name": "LiteLLM prod", "prefix": row.prefix}
    assert new.secret not in str(audit.after)
    assert api_keys.authenticate(session, new.secret).id == row.id


def test_step_up_is_required_for_create_and_revoke(engine, world, session):
    stale = replace(world.actor(world.admin), mfa_verified_at=utcnow() - timedelta(minutes=11))
    before = snapshot(engine)
    with pytest.raises(StepUpRequired):
        api_keys.create_key(session, actor=stale, name="k")
    session.rollback()
    assert snapshot(engine) == before
    key = api_keys.create_key(session, actor=fresh(world.actor(world.admin)), name="k")
    session.commit()
    with pytest.raises(StepUpRequired):
        api_keys.revoke_key(session, actor=stale, key_id=key.view.id)
    session.rollback()


@pytest.mark.parametrize("who", ["finance", "alice"])
def test_only_admins_manage_keys(world, session, who):
    actor = fresh(world.actor(getattr(world, who)))
    with pytest.raises(Forbidden):
        api_keys.create_key(session, actor=actor, name="k")
    with pytest.raises(Forbidden):
        api_keys.list_keys(session, actor=actor)
    session.rollback()


@pytest.mark.parametrize("name", ["", "   ", None, 5, "x" * 101])
def test_key_name_is_validated(world, session, name):
    with pytest.raises(Invalid):
        api_keys.create_key(session, actor=fresh(world.actor(world.admin)), name=name)
    session.rollback()


def test_revoke_is_scoped_audited_and_final(engine, world, session):
    admin = fresh(world.actor(world.admin))
    key = api_keys.create_key(session, actor=admin, name="k")
    session.commit()
    other = fresh(world.actor(world.other_admin))
    for bad in (key.view.id, 10**6, "1", None):
        with pytest.raises(NotFound):
            api_keys.revoke_key(session, actor=other if bad == key.view.id else admin, key_id=bad)
        session.rollback()
    assert api_keys.list_keys(session, actor=other) == []
    view = api_keys.revoke_key(session, actor=admin, key_id=key.view.id)
    session.commit()
    assert view.revoked_at is not None
    with pytest.raises(Conflict):
        api_keys.revoke_key(session, actor=admin, key_id=key.view.id)
    session.rollback()
    with pytest.raises(Forbidden):
        api_keys.authenticate(session, key.secret)
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "api_key.revoke")).one().target_id == str(key.view.id)
    session.rollback()


def test_super_admin_works_in_the_chosen_org(world, session):
    su = fresh(world.actor(world.super_user, org_id=world.other_org.id))
    key = api_keys.create_key(session, actor=su, name="for B")
    session.commit()
    assert session.get(ApiKey, key.view.id).org_id == world.other_org.id


@pytest.mark.parametrize("secret", [None, "", "abc", "stw_short", "stw_" + "a" * 43, 12, "x" * 1000])
def test_unknown_keys_are_unauthorized(world, session, secret):
    with pytest.raises(Unauthorized):
        api_keys.authenticate(session, secret)


def test_last_used_is_written_at_most_once_a_minute(world, session):
    key = api_keys.create_key(session, actor=fresh(world.actor(world.admin)), name="k")
    session.commit()
    t0 = utcnow()
    api_keys.authenticate(session, key.secret, now=t0)
    session.commit()
    api_keys.authenticate(session, key.secret, now=t0 + timedelta(seconds=30))
    session.commit()
    assert session.get(ApiKey, key.view.id, populate_existing=True).last_used_at == t0
    api_keys.authenticate(session, key.secret, now=t0 + timedelta(seconds=61))
    session.commit()
    assert session.get(ApiKey, key.view.id, populate_existing=True).last_used_at == t0 + timedelta(seconds=61)
