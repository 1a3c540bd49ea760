"""Creating users: enterprise rules, roles the actor may grant, bad input changes nothing."""

import pytest

from models import Role
from services.core.errors import Conflict, Forbidden, Invalid
from services.core.passwords import verify_password
from services.users.accounts import create_user
from tests.conftest import snapshot


def test_paid_user_without_caps_gets_the_default_allocation(world, session):
    r = create_user(session, actor=world.actor(world.admin), email="  New.Person@A.test ", name="New Person")
    session.commit()
    u = r.value
    assert u.email == "new.person@a.test" and u.org_id == world.org.id and u.role == "member"
    assert u.max_tokens == 200_000 and u.paid
    assert r.warnings == []


def test_unpaid_user_gets_no_allocation(world, session):
    u = create_user(session, actor=world.actor(world.admin), email="wait@a.test", paid=False).value
    assert u.max_tokens == 0 and u.max_training_tokens == 0


def test_cap_below_the_enterprise_minimum_is_raised_with_a_warning(world, session):
    r = create_user(session, actor=world.actor(world.admin), email="small@a.test", max_tokens=1000)
    assert r.value.max_tokens == 200_000
    assert "floor of 200,000" in r.warnings[0]


def test_password_is_hashed_with_argon2(world, session):
    u = create_user(session, actor=world.actor(world.admin), email="pw@a.test", password="correct horse").value
    assert u.password_hash.startswith("$argon2id$")
    assert verify_password(u.password_hash, "correct horse")
    assert not verify_password(u.password_hash, "wrong horse")


@pytest.mark.parametrize("kwargs,error,message", [
    ({"email": "not-an-email"}, Invalid, "not a valid email"),
    ({"email": "a@b"}, Invalid, "not a valid email"),
    ({"email": "x..y@a.test"}, Invalid, "not a valid email"),
    ({"email": ""}, Invalid, "Enter an email"),
    ({"email": None}, Invalid, "Enter an email"),
    ({"email": "ALICE@a.test"}, Conflict, "already exists"),
    ({"email": "n@a.test", "max_tokens": -1}, Invalid, "cannot be negative"),
    ({"email": "n@a.test", "max_tokens": "1e6"}, Invalid, "whole number"),
    ({"email": "n@a.test", "max_tokens": 2**64}, Invalid, "too large"),
    ({"email": "n@a.test", "max_training_tokens": 3.7}, Invalid, "whole number"),
    ({"email": "n@a.test", "role": "owner"}, Invalid, "Role must be one of"),
    ({"email": "n@a.test", "role": "super_admin"}, Forbidden, "not allowed to grant"),
    ({"email": "n@a.test", "name": "x" * 201}, Invalid, "longer than 200"),
    ({"email": "n@a.test", "paid": "yes"}, Invalid, "on or off"),
])
def test_bad_input_is_rejected_and_changes_nothing(world, session, engine, kwargs, error, message):
    before = snapshot(engine)
    with pytest.raises(error) as e:
        create_user(session, actor=world.actor(world.admin), **kwargs)
    session.rollback()
    assert message in e.value.message
    assert snapshot(engine) == before


def test_members_and_finance_cannot_add_users(world, session):
    for who in (world.alice, world.finance):
        with pytest.raises(Forbidden):
            create_user(session, actor=world.actor(who), email="x@a.test")


def test_org_admin_cannot_place_a_user_in_another_org(world, session):
    from services.core.errors import NotFound

    with pytest.raises(NotFound):
        create_user(session, actor=world.actor(world.admin), email="x@b.test", org_id=world.other_org.id)


def test_super_admin_creates_in_the_chosen_org(world, session):
    sup = world.actor(world.super_user, org_id=world.other_org.id)
    u = create_user(session, actor=sup, email="dave@b.test", role=Role.admin.value).value
    assert u.org_id == world.other_org.id and u.role == "admin"
