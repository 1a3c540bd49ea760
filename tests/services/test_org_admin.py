"""Super admins' organization tools: the listing (users, pool, assigned, closest expiry), the edit dialog's
detail, editing fields with their rules, and allowed models — on every configured database."""

from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, utcnow
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.orgs import catalog, organizations
from services.orgs.org_listing import org_detail, org_rows
from tests.conftest import snapshot


def test_listing_sums_users_pool_and_assigned_per_org(world, session):
    su = world.actor(world.super_user)
    now = utcnow()
    organizations.record_purchase(session, actor=su, org_id=world.org.id, tokens=2_000_000,
                         purchased_at=now - timedelta(days=400),
                         expires_at=now - timedelta(days=1))  # expired: not in the pool
    session.commit()
    rows, total = org_rows(session, actor=su)
    assert total == 2 and [r["name"] for r in rows] == ["Org A", "Org B"]
    a, b = rows
    assert a["users"] == 4 and a["pool_tokens"] == 4_000_000 and a["pool_training"] == 2_000_000
    assert a["assigned_tokens"] == sum(u.max_tokens for u in (world.admin, world.finance, world.alice, world.bob))
    assert a["closest_expiry"] is not None and a["domain"] == "a.test"
    assert b["users"] == 2 and b["pool_tokens"] == 0 and b["closest_expiry"] is None
    rows, total = org_rows(session, actor=su, offset=1, limit=1)
    assert total == 2 and [r["name"] for r in rows] == ["Org B"]
    assert org_rows(session, actor=su, offset=-5)[0][0]["name"] == "Org A"  # a bad offset starts at the top
    for who in (world.admin, world.finance, world.alice):
        with pytest.raises(Forbidden):
            org_rows(session, actor=world.actor(who))


def test_edit_fields_with_their_rules_audited(world, session, engine):
    su = world.actor(world.super_user)
    catalog.ensure_default_models(session)
    org = organizations.update_org(session, actor=su, org_id=world.org.id, name="Org A Prime",
                                   email_domain="@Prime.Test", monthly_token_cap="5,000,000", phone="+1 555 0100")
    session.commit()
    assert org.name == "Org A Prime" and org.email_domain == "prime.test" and org.monthly_token_cap == 5_000_000
    last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last.action == "org.update" and last.before["name"] == "Org A" and last.after["name"] == "Org A Prime"
    detail = org_detail(session, actor=su, org_id=world.org.id)
    assert detail["name"] == "Org A Prime" and detail["monthly_token_cap"] == 5_000_000
    assert detail["models"] and not any(m["allowed"] for m in detail["models"])  # none ticked = all allowed

    session.rollback()  # end the read transaction (SQLite: one writer at a time)
    before = snapshot(engine)
    bad = [
        (dict(name="org b"), Conflict, "already exists"),  # names are unique regardless of case
        (dict(email_domain="b.test"), Conflict, "already uses the domain"),
        (dict(email_domain="not a domain"), Invalid, "not a valid email domain"),
        (dict(email="nope"), Invalid, None),
        (dict(name=""), Invalid, None),
        (dict(monthly_token_cap="-5"), Invalid, None),
        (dict(monthly_token_cap="lots"), Invalid, None),
        (dict(owner_id=1), Invalid, "Unknown field"),
    ]
    for data, err, text in bad:
        with pytest.raises(err, match=text):
            organizations.update_org(session, actor=su, org_id=world.org.id, **data)
        session.rollback()
    with pytest.raises(Forbidden):
        organizations.update_org(session, actor=world.actor(world.admin), org_id=world.org.id, name="Mine")
    with pytest.raises(NotFound):
        organizations.update_org(session, actor=su, org_id=987_654, name="Ghost")
    with pytest.raises(NotFound):
        org_detail(session, actor=su, org_id="1")
    session.rollback()
    assert snapshot(engine) == before


def test_allowed_models_limit_the_org_and_are_audited(world, session):
    su = world.actor(world.super_user)
    catalog.ensure_default_models(session)
    all_ids = catalog.allowed_model_ids(session, world.org.id)
    assert all_ids  # nothing listed: every enabled model
    pick = sorted(all_ids)[:2]
    assert catalog.set_allowed_models(session, actor=su, org_id=world.org.id, model_ids=pick) == set(pick)
    session.commit()
    assert catalog.allowed_model_ids(session, world.org.id) == set(pick)
    assert catalog.allowed_model_ids(session, world.other_org.id) == all_ids  # the other org is untouched
    assert {m["id"] for m in org_detail(session, actor=su, org_id=world.org.id)["models"] if m["allowed"]} == set(pick)
    with pytest.raises(NotFound):
        catalog.set_allowed_models(session, actor=su, org_id=world.org.id, model_ids=[987_654])
    session.rollback()
    with pytest.raises(Invalid):
        catalog.set_allowed_models(session, actor=su, org_id=world.org.id, model_ids=["1"])
    session.rollback()
    with pytest.raises(Forbidden):
        catalog.set_allowed_models(session, actor=world.actor(world.admin), org_id=world.org.id, model_ids=[])
    session.rollback()
    catalog.set_allowed_models(session, actor=su, org_id=world.org.id, model_ids=[])  # back to every model
    session.commit()
    assert catalog.allowed_model_ids(session, world.org.id) == all_ids
