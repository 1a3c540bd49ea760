"""User Management handlers called directly: paging/sorting/filters from the server, inline edits kept across
pages and saved in one go, actions through the confirmation dialog (step-up for bans), and bad input."""

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models import User, utcnow
from services.core.actor import system_actor
from services.core.db import get_engine
from services.core.errors import Invalid
from services.users import accounts

from .conftest import enrol_and_verify, redirect_of, sign_in, sub, totp_secret, with_token


def run(coro):
    return asyncio.run(coro)


def users_state(root, people, who="admin"):
    from admin_panel.features.users.state import UsersState

    token = sign_in(getattr(people, who).email)
    enrol_and_verify(getattr(people, who).id, token)
    with_token(root, token)
    return sub(root, UsersState), token


def add_members(people, n):
    with Session(get_engine(), expire_on_commit=False) as s:
        a = system_actor(people.org_id)
        for i in range(n):
            accounts.create_user(s, actor=a, email=f"m{i:03d}@a.test", name=f"Member {i}", max_tokens=1000 * (i + 1))
        s.commit()


def code_now(user_id, ahead=0):
    import time

    import pyotp

    return pyotp.TOTP(totp_secret(user_id)).at(time.time() + ahead)


def db_user(email):
    with Session(get_engine()) as s:
        return s.exec(select(User).where(User.email == email)).one()


def test_load_pages_sorts_and_filters_on_the_server(root, people):
    add_members(people, 60)
    st, _ = users_state(root, people)
    assert redirect_of(run(st.load())) is None
    assert st.total == 63 and st.pages == 3 and len(st.rows) == 25 and st.user_count == "63"
    assert st.cards[0]["kind"] == "Tokens"
    run(st.go_to(3))
    assert st.page == 3 and len(st.rows) == 13
    run(st.set_page_size("100"))
    assert st.pages == 1 and len(st.rows) == 63
    run(st.sort_by("max_tokens"))
    run(st.sort_by("max_tokens"))  # second click: descending
    assert st.descending and st.rows[0]["max_tokens"] == "200,000"
    run(st.set_search("member 1"))
    assert st.total == 15 and all("Member" in r["name"] and "1" in r["name"] for r in st.rows)  # 1, 10–19, 21 … 51
    run(st.set_filter("role", "admin"))
    assert st.total == 0 and st.range_label == "No users match."


def test_bad_handler_input_changes_nothing(root, people):
    st, _ = users_state(root, people)
    run(st.load())
    before = (st.sort, st.page_size, st.paid, st.page, st.total)
    run(st.sort_by("password_hash"))
    run(st.set_page_size("1000"))
    run(st.set_filter("paid", "maybe"))
    run(st.set_filter("__class__", "yes"))
    run(st.go_to("2"))
    run(st.set_search({"$ne": 1}))
    assert (st.sort, st.page_size, st.paid, st.page, st.total) == before
    st.edit_cell("999999", "max_tokens", "5")  # not on this page
    st.edit_cell(st.rows[0]["id"], "password_hash", "5")
    assert st.edits == {}


def test_edits_survive_paging_and_save_in_one_transaction(root, people):
    add_members(people, 30)
    st, _ = users_state(root, people)
    run(st.load())
    first = st.rows[0]
    st.edit_cell(first["id"], "max_tokens", "250,000")
    run(st.go_to(2))
    second = st.rows[0]
    st.edit_cell(second["id"], "max_training_tokens", "1000")
    run(st.go_to(1))
    assert st.rows[0]["max_tokens"] == "250,000" and st.rows[0]["edited_tokens"] == "yes"
    assert st.edit_count == 2
    st.edit_cell(first["id"], "max_training_tokens", "12x")  # a bad cell blocks saving …
    run(st.save_edits())
    assert "whole numbers" in st.error
    assert db_user(first["email"]).max_tokens != 250_000  # … and nothing was saved
    st.edit_cell(first["id"], "max_training_tokens", "2,000")
    run(st.save_edits())
    assert st.error == "" and st.edits == {} and "Saved 2 users" in st.notice
    u1, u2 = db_user(first["email"]), db_user(second["email"])
    assert u1.max_tokens == 250_000 and u1.max_training_tokens == 2_000
    assert u2.max_training_tokens == 1_000


def test_discard_edits(root, people):
    st, _ = users_state(root, people)
    run(st.load())
    st.edit_cell(st.rows[0]["id"], "max_tokens", "1")
    run(st.discard_edits())
    assert st.edits == {} and st.rows[0]["max_tokens"] != "1"


def test_actions_go_through_the_dialog_and_ban_needs_step_up(root, people):
    from admin_panel.shell.stepup import StepUpState

    st, token = users_state(root, people)
    run(st.load())
    member = next(r for r in st.rows if r["email"] == people.member.email)
    st.open_action("disable", member["id"])
    assert st.action == "disable" and st.action_user["email"] == people.member.email
    nxt = run(st.confirm_action({}))
    assert nxt is not None
    run(st.apply_pending())
    assert st.action == "" and "Done" in st.notice
    u = db_user(people.member.email)
    assert not u.paid and u.max_tokens == 0

    # A ban needs MFA from the last minutes: make the session's verification old.
    from models import AuthSession

    with Session(get_engine()) as s:
        for row in s.exec(select(AuthSession)).all():
            row.mfa_verified_at = utcnow() - timedelta(hours=1)
            s.add(row)
        s.commit()
    st.open_action("ban", member["id"])
    run(st.confirm_action({"reason": "Abuse", "until": ""}))
    run(st.apply_pending())
    step = sub(root, StepUpState)
    assert step.is_open and step._retry.endswith("apply_pending")
    assert not db_user(people.member.email).banned

    # A wrong code keeps the dialog open; the right one closes it and hands back the retry handler.
    assert run(step.verify({"code": "000000" if code_now(people.admin.id) != "000000" else "111111"})) is None
    assert step.is_open and step.error
    retry = run(step.verify({"code": code_now(people.admin.id, ahead=30)}))
    assert not step.is_open and retry is not None and retry.fn.__name__ == "apply_pending"
    run(st.apply_pending())
    assert db_user(people.member.email).banned and db_user(people.member.email).ban_reason == "Abuse"


def test_cannot_act_on_users_of_another_org(root, people):
    with Session(get_engine(), expire_on_commit=False) as s:
        victim = accounts.create_user(s, actor=system_actor(people.other_org_id), email="victim@b.test").value
        s.commit()
    st, _ = users_state(root, people)
    run(st.load())
    st.open_action("disable", str(victim.id))  # not on the admin's page: ignored
    assert st.action == ""
    # a forged pending action reaches the service, which answers "not found"
    st.open_action("disable", st.rows[0]["id"])
    st.action_user = {"id": str(victim.id), "email": "x"}
    run(st.confirm_action({}))
    run(st.apply_pending())
    assert st.action_error == "User not found."
    assert db_user("victim@b.test").paid


def test_typing_the_saved_value_is_not_an_edit(root, people):
    st, _ = users_state(root, people)
    run(st.load())
    row = dict(st.rows[0])
    st.edit_cell(row["id"], "max_training_tokens", row["max_training_tokens"])  # focus left without a change
    assert st.edits == {} and st.edit_count == 0
    st.edit_cell(row["id"], "max_tokens", "7")
    st.edit_cell(row["id"], "max_tokens", row["max_tokens"].replace(",", ""))  # typed back the old value
    assert st.edits == {} and st.rows[0]["edited_tokens"] == "no"


def test_overbooking_after_a_save_is_shown_once(root, people):
    st, _ = users_state(root, people)
    run(st.load())
    st.edit_cell(st.rows[0]["id"], "max_tokens", "900,000,000,000")  # far beyond any purchase
    run(st.save_edits())
    assert "Saved 1 user" in st.notice
    assert any("Overbooked" in w or "overbooked" in w for w in st.overbooking), st.overbooking
    assert not set(st.save_warnings) & set(st.overbooking), (st.save_warnings, st.overbooking)


def _old_mfa():
    """Make every session's MFA verification an hour old (the next sensitive action asks for a code)."""
    from models import AuthSession

    with Session(get_engine()) as s:
        for row in s.exec(select(AuthSession)).all():
            row.mfa_verified_at = utcnow() - timedelta(hours=1)
            s.add(row)
        s.commit()


def _audit_actions():
    from models import AuditEvent

    with Session(get_engine()) as s:
        return [a.action for a in s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]


def test_a_new_invitation_link_for_a_user_without_a_password(root, people):
    from services.users import invitations

    with Session(get_engine(), expire_on_commit=False) as s:
        invited = accounts.create_user(s, actor=system_actor(people.org_id), email="new@a.test", name="New").value
        first = invitations.issue(s, invited, created_by=None).link
        s.commit()
    st, _ = users_state(root, people)
    run(st.load())
    rows = {r["email"]: r for r in st.rows}
    assert rows["new@a.test"]["invited"] == "yes" and rows[people.member.email]["invited"] == "no"
    st.open_action("invite", rows["new@a.test"]["id"])
    run(st.confirm_action({}))
    run(st.apply_pending())
    assert st.action == "invite" and st.action_error == ""  # the dialog stays open with the link to copy
    assert st.action_link.startswith("http") and st.action_link != first and "7 days" in st.action_link_note
    assert _audit_actions()[-1] == "user.invite"
    with Session(get_engine()) as s:  # the new link works, the earlier one no longer does
        assert invitations.peek(s, token=st.action_link.split("token=")[-1]) == "new@a.test"
        with pytest.raises(Invalid):
            invitations.peek(s, token=first.split("token=")[-1])
    st.close_action()
    assert st.action == "" and st.action_link == ""

    # a user who has set a password gets no invitation: the service says so and nothing is written
    n = len(_audit_actions())
    st.open_action("invite", rows[people.member.email]["id"])
    run(st.confirm_action({}))
    run(st.apply_pending())
    assert "already set a password" in st.action_error and st.action_link == ""
    assert len(_audit_actions()) == n


def test_super_admin_creates_a_reset_link_and_resets_mfa_with_step_up(root, people):
    from services.auth import sessions

    st, token = users_state(root, people, who="super_admin")
    with Session(get_engine()) as s:  # the super admin works in org A
        info = sessions.resolve(s, token)
        sessions.set_active_org(s, actor=info.actor(), session_id=info.session_id, org_id=people.org_id)
        s.commit()
    enrol_and_verify(people.finance.id, sign_in(people.finance.email))
    run(st.load())
    rows = {r["email"]: r for r in st.rows}
    st.open_action("reset_link", rows[people.member.email]["id"])
    run(st.confirm_action({}))
    run(st.apply_pending())
    assert st.action_error == "" and "reset" in st.action_link and "60 minutes" in st.action_link_note
    assert _audit_actions()[-1] == "user.reset_link"
    st.close_action()

    assert db_user(people.finance.email).mfa_enabled
    _old_mfa()
    st.open_action("reset_mfa", rows[people.finance.email]["id"])
    run(st.confirm_action({}))
    run(st.apply_pending())
    from admin_panel.shell.stepup import StepUpState

    step = sub(root, StepUpState)
    assert step.is_open and db_user(people.finance.email).mfa_enabled  # nothing before a fresh code
    retry = run(step.verify({"code": code_now(people.super_admin.id, ahead=30)}))
    assert retry is not None
    run(st.apply_pending())
    assert st.action == "" and "Done" in st.notice
    assert not db_user(people.finance.email).mfa_enabled and _audit_actions()[-1] == "mfa.reset"


def test_org_admins_cannot_create_reset_links_or_reset_mfa(root, people):
    enrol_and_verify(people.finance.id, sign_in(people.finance.email))
    st, _ = users_state(root, people)
    run(st.load())
    rows = {r["email"]: r for r in st.rows}
    n = len(_audit_actions())
    for action in ("reset_link", "reset_mfa"):
        st.open_action(action, rows[people.finance.email]["id"])
        run(st.confirm_action({}))
        run(st.apply_pending())
        assert "super admin" in st.action_error.lower() or "not allowed" in st.action_error.lower(), st.action_error
        assert st.action_link == ""
        st.close_action()
    assert db_user(people.finance.email).mfa_enabled and len(_audit_actions()) == n


def test_switching_organization_drops_the_other_orgs_unsaved_edits(root, people):
    from services.auth import sessions

    st, token = users_state(root, people, who="super_admin")

    def work_in(org_id):
        with Session(get_engine()) as s:
            info = sessions.resolve(s, token)
            sessions.set_active_org(s, actor=info.actor(), session_id=info.session_id, org_id=org_id)
            s.commit()

    work_in(people.org_id)
    run(st.load())
    st.edit_cell(st.rows[0]["id"], "max_tokens", "123,000")
    assert st.edit_count == 1
    run(st.reload())  # same org: the edit stays
    assert st.edit_count == 1
    work_in(people.other_org_id)
    run(st.load())
    assert st.edit_count == 0 and "discarded" in st.notice
    assert all(r["edited_tokens"] == "no" for r in st.rows)


def test_a_large_raise_asks_for_a_fresh_code_then_saves_the_same_edits(root, people):
    from admin_panel.shell.stepup import StepUpState
    from services.core import settings

    st, _ = users_state(root, people)
    run(st.load())
    member = next(r for r in st.rows if r["email"] == people.member.email)
    before = db_user(people.member.email).max_tokens
    _old_mfa()
    st.edit_cell(member["id"], "max_tokens", str(before + settings.STEP_UP_GRANT_TOKENS + 1))
    run(st.save_edits())
    step = sub(root, StepUpState)
    assert step.is_open and step._retry.endswith("save_edits")
    assert db_user(people.member.email).max_tokens == before and st.edit_count == 1  # kept, not saved
    retry = run(step.verify({"code": code_now(people.admin.id, ahead=30)}))
    assert retry is not None and retry.fn.__name__ == "save_edits"
    run(st.save_edits())
    assert "Saved 1 user" in st.notice and st.edit_count == 0
    assert db_user(people.member.email).max_tokens == before + settings.STEP_UP_GRANT_TOKENS + 1


def _act(st, action, user_id, form=None):
    st.open_action(action, user_id)
    assert st.action == action
    run(st.confirm_action(form or {}))
    run(st.apply_pending())


def test_paid_verified_pin_and_role_through_the_dialog(root, people):
    with Session(get_engine(), expire_on_commit=False) as s:
        u = accounts.create_user(s, actor=system_actor(people.org_id), email="new@a.test", paid=False, max_tokens=0,
                              max_training_tokens=0).value
        s.commit()
    st, _ = users_state(root, people)
    run(st.load())
    row = next(r for r in st.rows if r["email"] == "new@a.test")
    assert row["paid"] == "no" and row["verified"] == "no" and row["pinned"] == "no"

    _act(st, "paid_on", row["id"])  # activation without an allocation gives the default one
    assert st.action == "" and "Done" in st.notice
    assert db_user("new@a.test").paid and db_user("new@a.test").max_tokens == 200_000
    _act(st, "verify", row["id"])
    assert db_user("new@a.test").verified
    _act(st, "pin", row["id"])
    assert db_user("new@a.test").pinned
    _act(st, "unpin", row["id"])
    assert not db_user("new@a.test").pinned
    _act(st, "role", row["id"], {"role": "finance"})  # the admin's MFA is fresh: no step-up needed
    assert db_user("new@a.test").role == "finance"
    _act(st, "role", row["id"], {"role": "super_admin"})  # not a role an org admin may grant
    assert "not allowed to grant" in st.action_error and db_user("new@a.test").role == "finance"
    st.close_action()
    _act(st, "paid_off", row["id"])
    assert not db_user("new@a.test").paid and db_user("new@a.test").max_tokens == 200_000  # caps kept
    rows = {r["email"]: r for r in st.rows}
    assert rows["new@a.test"]["paid"] == "no" and rows["new@a.test"]["role"] == "finance"
    assert u.id == int(row["id"])
