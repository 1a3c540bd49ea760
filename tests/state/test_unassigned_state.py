"""Organizations → Unassigned users: a super admin sees self-registered people without an organization and
puts one into an organization (unpaid member, audited); bad ids and org admins change nothing."""

from __future__ import annotations

import asyncio

from sqlmodel import Session, select

from models import AuditEvent, User
from services.core.db import get_engine
from services.core.passwords import hash_password
from tests.conftest import snapshot

from .conftest import PASSWORD, enrol_and_verify, sign_in, sub, with_token
from .test_guard import redirect_path, run_guard


def _state(root, people, who):
    from admin_panel.features.orgs.unassigned_state import UnassignedState

    person = getattr(people, who)
    token = sign_in(person.email)
    enrol_and_verify(person.id, token)
    with_token(root, token)
    return sub(root, UnassignedState)


def _loose(*emails) -> None:
    with Session(get_engine()) as s:
        for email in emails:
            s.add(User(email=email, password_hash=hash_password(PASSWORD), verified=True))
        s.commit()


def _user(email) -> User:
    with Session(get_engine()) as s:
        return s.exec(select(User).where(User.email == email)).one()


def test_super_admin_assigns_an_unassigned_user(root, people):
    _loose("zoe@gmail.test", "yan@gmail.test")
    st = _state(root, people, "super_admin")
    asyncio.run(st.load())
    assert [u["email"] for u in st.users] == ["yan@gmail.test", "zoe@gmail.test"] and st.count == 2
    assert {o["id"] for o in st.org_options} == {str(people.org_id), str(people.other_org_id)}
    zoe = next(u for u in st.users if u["email"] == "zoe@gmail.test")

    asyncio.run(st.assign({"user": zoe["id"], "org": ""}))  # no organization chosen
    assert st.error == "Choose an organization first." and _user("zoe@gmail.test").org_id is None
    asyncio.run(st.assign({"user": zoe["id"], "org": "999999"}))
    assert st.error == "Organization not found." and _user("zoe@gmail.test").org_id is None

    asyncio.run(st.assign({"user": zoe["id"], "org": str(people.org_id)}))
    u = _user("zoe@gmail.test")
    assert st.error == "" and "zoe@gmail.test joined Org A" in st.notice
    assert u.org_id == people.org_id and not u.paid and u.role == "member"
    assert [x["email"] for x in st.users] == ["yan@gmail.test"]
    with Session(get_engine()) as s:
        last = s.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.action == "user.assign_org" and last.target_id == str(u.id)

    asyncio.run(st.assign({"user": zoe["id"], "org": str(people.other_org_id)}))  # already placed
    assert "already belongs" in st.error and _user("zoe@gmail.test").org_id == people.org_id


def test_org_admins_are_refused_and_nothing_changes(root, people):
    _loose("zoe@gmail.test")
    zoe = _user("zoe@gmail.test")
    st = _state(root, people, "admin")
    before = snapshot(people.engine())
    # the guard turns the event away before the handler …
    for name in ("load", "assign"):
        update = run_guard(root, f"{st.get_full_name()}.{name}", {"form": {"user": str(zoe.id),
                                                                          "org": str(people.org_id)}})
        assert redirect_path(update) is not None
    # … and the service refuses too when the handler is called directly
    asyncio.run(st.assign({"user": str(zoe.id), "org": str(people.org_id)}))
    assert "not allowed" in st.error
    asyncio.run(st.load())
    assert st.users == [] and "not allowed" in st.error
    assert snapshot(people.engine()) == before
