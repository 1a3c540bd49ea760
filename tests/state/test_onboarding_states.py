"""Handlers of the enterprise request page (any signed-in user) and of the super admins' Organizations page:
live validation, invitations, submission, review decisions; org admins and members are refused and nothing
changes."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import Session, select

from models import EnterpriseRequest, Organization, User
from services.core.actor import Actor
from services.core.db import get_engine
from services.core.passwords import hash_password
from services.onboarding import enterprise
from tests.conftest import snapshot

from .conftest import PASSWORD, enrol_and_verify, redirect_of, sign_in, sub, with_token
from .test_guard import redirect_path, run_guard


def run(ret):
    """Await async handlers; sync handlers already ran."""
    return asyncio.run(ret) if asyncio.iscoroutine(ret) else ret


def states():
    from admin_panel.features.onboarding.state import EnterpriseRequestState
    from admin_panel.features.orgs.state import OrgsState

    return EnterpriseRequestState, OrgsState


@pytest.fixture
def loose(people) -> dict[str, User]:
    """Registered accounts without an organization: a requester and two colleagues."""
    pw = hash_password(PASSWORD)
    out = {}
    with Session(get_engine(), expire_on_commit=False) as s:
        for email in ("rita@new.test", "u1@new.test", "u2@new.test"):
            u = User(email=email, password_hash=pw, verified=True)
            s.add(u)
            s.flush()
            out[email] = u
        s.commit()
    return out


def fill(form, **values):
    for k, v in values.items():
        assert redirect_of(run(form.edit(k, v))) is None


GOOD = dict(org_name="New Co", billing_address="1 Main St", user_emails="rita@new.test\nu1@new.test",
            admin_emails="rita@new.test", tokens="2,000,000")


def _request_id() -> int:
    with Session(get_engine()) as s:
        return s.exec(select(EnterpriseRequest.id)).one()


def test_requester_sees_live_messages_invites_and_submits(root, people, loose, monkeypatch):
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    Req, _ = states()
    with_token(root, sign_in("rita@new.test"))
    form = sub(root, Req)
    assert redirect_of(run(form.load())) is None and form.requests == []

    fill(form, user_emails="rita@new.test new.person@x.test", tokens="3000000")
    assert "Not registered yet: new.person@x.test" in form.messages["user_emails"]
    assert "multiples of 2,000,000" in form.messages["tokens"]
    assert form.unregistered == ["new.person@x.test"] and not form.valid

    run(form.invite())
    [inv] = form.invites
    assert inv["email"] == "new.person@x.test" and "/reset-password?token=" in inv["link"]
    assert "Invited but not registered yet" in form.messages["user_emails"]

    fill(form, **GOOD)
    assert form.valid and all(m == "" for m in form.messages.values())
    run(form.submit())
    assert form.notice.startswith("Request #") and form.org_name == ""
    assert [r["status"] for r in form.requests] == ["pending"]


def test_bad_handler_arguments_change_nothing(root, people, loose):
    Req, _ = states()
    with_token(root, sign_in("rita@new.test"))
    form = sub(root, Req)
    before = snapshot(get_engine())
    for field, value in (("requester_id", "1"), ("org_name", ["x"]), ("status", "activated"), (None, None)):
        run(form.edit(field, value))
    assert form.org_name == "" and not form.checked
    run(form.submit())  # empty form: refused with messages
    assert form.error and not form.valid
    run(form.edit("user_emails", "x" * 1_000_000))
    assert len(form.user_emails) == 200_000 and "too much text" in form.messages["user_emails"]
    assert snapshot(get_engine()) == before


def _submit_as_rita(root):
    Req, _ = states()
    with_token(root, sign_in("rita@new.test"))
    form = sub(root, Req)
    fill(form, **GOOD)
    run(form.submit())
    assert form.notice
    return _request_id()


def test_super_admin_reviews_and_activates_with_confirmation(root, people, loose):
    rid = _submit_as_rita(root)
    _, Orgs = states()
    token = sign_in(people.super_admin.email)
    enrol_and_verify(people.super_admin.id, token)
    with_token(root, token)
    page = sub(root, Orgs)
    assert redirect_path(run_guard(root, Orgs.get_full_name() + ".load")) is None
    run(page.load())
    assert page.open_count == 1 and page.requests[0]["org_name"] == "New Co"
    assert {o["name"] for o in page.orgs} == {"Org A", "Org B"}

    run(page.open_review(str(rid)))
    assert page.review_open and page.review_ok and page.review_users == ["rita@new.test", "u1@new.test"]
    run(page.ask("activate"))
    assert page.confirm_label == "Activate"
    run(page.confirm())
    assert page.notice == "New Co is active." and not page.review_open, page.review_error
    assert page.open_count == 0 and "New Co" in {o["name"] for o in page.orgs}
    with Session(get_engine()) as s:
        org = s.exec(select(Organization).where(Organization.name == "New Co")).one()
        rita = s.exec(select(User).where(User.email == "rita@new.test")).one()
        assert rita.org_id == org.id and rita.role == "admin"


def test_reject_needs_a_reason_and_awaiting_payment(root, people, loose):
    rid = _submit_as_rita(root)
    _, Orgs = states()
    token = sign_in(people.super_admin.email)
    enrol_and_verify(people.super_admin.id, token)
    with_token(root, token)
    page = sub(root, Orgs)
    run(page.open_review(str(rid)))
    run(page.ask("awaiting"))
    run(page.confirm())
    assert "awaiting payment" in page.notice
    run(page.open_review(str(rid)))
    run(page.ask("reject"))
    run(page.confirm())
    assert page.review_error == "Reason is required."
    run(page.set_reason("Not a company"))
    run(page.ask("reject"))
    run(page.confirm())
    assert "rejected" in page.notice
    with Session(get_engine()) as s:
        assert s.get(EnterpriseRequest, rid).reason == "Not a company"

    # The requester sees the status, the reason and both notifications, and can mark them read.
    Req, _ = states()
    with_token(root, sign_in("rita@new.test"))
    form = sub(root, Req)
    run(form.load())
    assert form.requests[0]["status_label"] == "Rejected" and form.requests[0]["reason"] == "Not a company"
    assert [n["read"] for n in form.notes_inbox] == ["", ""] and "rejected" in form.notes_inbox[0]["title"]
    run(form.mark_read())
    assert [n["read"] for n in form.notes_inbox] == ["yes", "yes"]


def test_bad_ids_and_actions_are_ignored(root, people, loose):
    _submit_as_rita(root)
    _, Orgs = states()
    token = sign_in(people.super_admin.email)
    enrol_and_verify(people.super_admin.id, token)
    with_token(root, token)
    page = sub(root, Orgs)
    before = snapshot(get_engine())
    for bad in ("999", "-1", "1 OR 1=1", None, ["1"], True, "9" * 40):
        run(page.open_review(bad))
        assert not page.review_open
    run(page.ask("drop_table"))
    assert page.confirm_action == ""
    run(page.confirm())  # nothing chosen: nothing happens
    run(page.open_purchase("12345"))
    assert not page.purchase_open
    run(page.set_tab("<script>"))
    assert page.tab == "orgs"
    assert snapshot(get_engine()) == before


@pytest.mark.parametrize("who", ["admin", "member"])
def test_org_admins_and_members_are_refused(root, people, loose, who):
    rid = _submit_as_rita(root)
    _, Orgs = states()
    user = getattr(people, who)
    token = sign_in(user.email)
    if who == "admin":
        enrol_and_verify(user.id, token)
    with_token(root, token)
    for handler in ("load", "open_review", "confirm", "ask", "create_org", "record_purchase"):
        assert redirect_path(run_guard(root, f"{Orgs.get_full_name()}.{handler}")) in ("/admin", "/me")

    # Even called directly (past the guard), the services refuse and nothing changes.
    page = sub(root, Orgs)
    before = snapshot(get_engine())
    run(page.load())
    assert "not allowed" in page.error and page.requests == []
    run(page.open_review(str(rid)))
    assert not page.review_open
    page._review_id = rid
    for action in ("activate", "awaiting"):
        page.confirm_action = action
        run(page.confirm())
        assert "not allowed" in page.review_error
    run(page.create_org({"name": "Sneaky"}))
    assert "not allowed" in page.create_error
    assert snapshot(get_engine()) == before
    with Session(get_engine()) as s:
        assert s.get(EnterpriseRequest, rid).status == "pending"
    actor = Actor(user.id, user.role, user.org_id, email=user.email)
    with Session(get_engine()) as s:
        assert enterprise.my_requests(s, actor=actor) == []


def test_super_admin_creates_an_org_and_records_a_purchase(root, people):
    _, Orgs = states()
    token = sign_in(people.super_admin.email)
    enrol_and_verify(people.super_admin.id, token)
    with_token(root, token)
    page = sub(root, Orgs)
    run(page.load())
    run(page.create_org({"name": "Org A"}))
    assert "already exists" in page.create_error
    run(page.create_org({"name": "Org C", "email_domain": "c.test"}))
    assert page.notice == "Organization Org C created."
    row = next(o for o in page.orgs if o["name"] == "Org C")
    run(page.open_purchase(row["id"]))
    assert page.purchase_open and page.purchase_org == "Org C"
    run(page.record_purchase({"tokens": "3000000"}))
    assert "multiples of 2,000,000" in page.purchase_error
    run(page.record_purchase({"tokens": "4,000,000", "expires_at": "not-a-date"}))
    assert "YYYY-MM-DD" in page.purchase_error
    run(page.record_purchase({"tokens": "4,000,000", "expires_at": "2099-01-31"}))
    assert page.purchase_error == "" and not page.purchase_open
    row = next(o for o in page.orgs if o["name"] == "Org C")
    assert row["pool"] == "4,000,000" and row["expiry"] == "Jan 31, 2099"
