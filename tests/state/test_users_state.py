"""User Management handlers called directly: paging/sorting/filters from the server, inline edits kept across
pages and saved in one go, actions through the confirmation dialog (step-up for bans), and bad input."""

import asyncio
from datetime import timedelta

from sqlmodel import Session, select

from models import User, utcnow
from services import users
from services.actor import system_actor
from services.db import get_engine

from .conftest import enrol_and_verify, redirect_of, sign_in, sub, totp_secret, with_token


def run(coro):
    return asyncio.run(coro)


def users_state(root, people, who="admin"):
    from admin_panel.state.users import UsersState

    token = sign_in(getattr(people, who).email)
    enrol_and_verify(getattr(people, who).id, token)
    with_token(root, token)
    return sub(root, UsersState), token


def add_members(people, n):
    with Session(get_engine(), expire_on_commit=False) as s:
        a = system_actor(people.org_id)
        for i in range(n):
            users.create_user(s, actor=a, email=f"m{i:03d}@a.test", name=f"Member {i}", max_tokens=1000 * (i + 1))
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
        victim = users.create_user(s, actor=system_actor(people.other_org_id), email="victim@b.test").value
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
