"""services.gateway.api_keys: admins create (shown once, stored hashed) and revoke keys with step-up MFA; audited;
org-scoped; authenticate answers unknown → Unauthorized, revoked → Forbidden."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from models import ApiKey, AuditEvent, utcnow
from services.core.crypto import token_hash
from services.core.errors import Conflict, Forbidden, Invalid, NotFound, StepUpRequired, Unauthorized
from services.gateway import api_keys
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
    assert (session.exec(select(AuditEvent).where(AuditEvent.action == "api_key.revoke")).one().target_id
            == str(key.view.id))
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


# --- the REST API's key cache (KeyCache) -------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_key_cache_remembers_checked_keys_for_its_ttl_only(engine, world, session):
    admin = fresh(world.actor(world.admin))
    key = api_keys.create_key(session, actor=admin, name="cached")
    session.commit()
    clock = Clock()
    cache = api_keys.KeyCache(ttl=5, clock=clock)
    assert cache.cached(key.secret) is None  # never checked: the caller reads the DB
    info = cache.load(engine, key.secret)
    assert (info.id, info.org_id, info.revoked) == (key.view.id, world.org.id, False)
    assert cache.cached(key.secret) == info
    # Another process revokes it (a plain UPDATE: this process hears nothing) ...
    row = session.get(ApiKey, key.view.id)
    row.revoked_at = utcnow()
    session.add(row)
    session.commit()
    clock.t += 4.9
    assert cache.cached(key.secret) == info  # ... still accepted here within the documented bound ...
    clock.t += 0.2
    assert cache.cached(key.secret) is None  # ... and not a moment longer: read again, refused
    with pytest.raises(Forbidden):
        cache.load(engine, key.secret)
    with pytest.raises(Forbidden):  # the refusal is remembered too
        cache.cached(key.secret)


def test_revoking_in_this_process_is_refused_at_once(engine, world, session):
    admin = fresh(world.actor(world.admin))
    key = api_keys.create_key(session, actor=admin, name="k")
    session.commit()
    api_keys.KEYS.load(engine, key.secret)
    assert api_keys.KEYS.cached(key.secret) is not None
    api_keys.revoke_key(session, actor=admin, key_id=key.view.id)
    api_keys.KEYS.load(engine, key.secret)  # a request between revoke and commit caches the old state …
    session.commit()  # … and the commit drops it
    assert api_keys.KEYS.cached(key.secret) is None
    with pytest.raises(Forbidden):
        api_keys.KEYS.load(engine, key.secret)


def test_key_cache_never_caches_unknown_keys(engine, world):
    cache = api_keys.KeyCache(ttl=5)
    unknown = "stw_" + "a" * 43  # well formed, not a key
    with pytest.raises(Unauthorized):
        cache.load(engine, unknown)
    assert cache.cached(unknown) is None  # asked again next time (nothing remembered)
    for malformed in (None, "", "stw_short", 12):
        with pytest.raises(Unauthorized):
            cache.cached(malformed)


def test_key_cache_touches_last_used_at_most_once_a_minute(engine, world, session):
    key = api_keys.create_key(session, actor=fresh(world.actor(world.admin)), name="k")
    session.commit()
    t0 = utcnow()
    cache = api_keys.KeyCache(ttl=0)  # no caching: every call reads the key
    cache.load(engine, key.secret, now=t0)
    cache.load(engine, key.secret, now=t0 + timedelta(seconds=30))
    assert session.get(ApiKey, key.view.id, populate_existing=True).last_used_at == t0
    session.commit()
    cache.load(engine, key.secret, now=t0 + timedelta(seconds=61))
    assert session.get(ApiKey, key.view.id, populate_existing=True).last_used_at == t0 + timedelta(seconds=61)
    session.commit()
