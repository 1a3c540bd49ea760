"""Handlers of the add-user / import / export states and the public invite, register and verify pages."""

from __future__ import annotations

import asyncio
import csv
import io
import re

from reflex_base.event import Event
from sqlmodel import Session, select

import admin_panel.features.users.add_users_state  # noqa: F401  (registered before the root state of each test is built)
import admin_panel.features.users.export_users_state  # noqa: F401
from models import User
from services.auth import sessions
from services.core.db import get_engine

from .conftest import download_of, enrol_and_verify, redirect_of, sign_in, sub, with_token

HEADER = "email,name,role,max_tokens,max_train_tokens\n"


def run(coro):
    return asyncio.run(coro)


def states():
    from admin_panel.features.signup.state import InviteState, RegisterState, VerifyEmailState
    from admin_panel.features.users.add_users_state import AddUsersState
    from admin_panel.features.users.export_users_state import ExportUsersState

    return AddUsersState, ExportUsersState, InviteState, RegisterState, VerifyEmailState


def admin_tab(root, user):
    token = sign_in(user.email)
    enrol_and_verify(user.id, token)
    with_token(root, token)
    return token


def users_by_email(addr: str) -> list[User]:
    with Session(get_engine()) as s:
        return s.exec(select(User).where(User.email == addr)).all()


def upload(data: bytes, name: str = "users.csv"):
    from pathlib import Path

    import reflex as rx

    return rx.UploadFile(file=io.BytesIO(data), path=Path(name), size=len(data))


# ------------------------------------------------------------------------------------------------ add form
def test_admin_adds_a_user_and_gets_the_link_and_the_after_change_events(root, people, monkeypatch):
    AddUsers, *_ = states()
    import admin_panel.features.users.add_users_state as mod

    admin_tab(root, people.admin)
    st = sub(root, AddUsers)
    run(st.open_add())
    assert st.roles == ["member", "finance", "admin"] and st.add_open
    monkeypatch.setattr(mod, "AFTER_CHANGE", [AddUsers.close_import])
    ret = run(st.add_user({"email": "new@a.test", "name": "New", "role": "finance", "max_tokens": "250000",
                           "max_train_tokens": "", "org_id": people.other_org_id}))
    assert st.field_errors == {} and st.added_email == "new@a.test" and "/invite?token=" in st.added_link
    assert ret == [AddUsers.close_import]
    [u] = users_by_email("new@a.test")
    assert (u.org_id, u.role, u.max_tokens) == (people.org_id, "finance", 250_000)


def test_add_form_bad_input_shows_field_errors_and_adds_nothing(root, people):
    AddUsers, *_ = states()
    admin_tab(root, people.admin)
    st = sub(root, AddUsers)
    cases = [
        ({"email": "nope", "role": "member"}, "email", "not a valid email"),
        ({"email": "x@a.test", "role": "super_admin"}, "role", "not allowed to grant"),
        ({"email": "x@a.test", "role": "owner"}, "role", "Role must be one of"),
        ({"email": "x@a.test", "max_tokens": "-1"}, "max_tokens", "cannot be negative"),
        ({"email": "x@a.test", "max_train_tokens": "1.5"}, "max_train_tokens", "whole number"),
        ({"email": "member@a.test"}, "email", "already exists"),
        ({"email": "x" * 5000}, "email", "Enter an email"),
        ({"email": ["x@a.test"]}, "email", "Enter an email"),
    ]
    for form, fld, msg in cases:
        assert run(st.add_user(form)) is None
        assert msg in st.field_errors.get(fld, ""), (form, st.field_errors)
    for junk in (None, [], "x", 5):
        assert run(st.add_user(junk)) is None and st.field_errors
    assert users_by_email("x@a.test") == [] and st.added_link == ""


def test_super_admin_adds_into_the_org_chosen_in_the_switcher(root, people):
    AddUsers, *_ = states()
    token = admin_tab(root, people.super_admin)
    with Session(get_engine()) as s:
        info = sessions.resolve(s, token)
        sessions.set_active_org(s, actor=info.actor(), session_id=info.session_id, org_id=people.other_org_id)
        s.commit()
    st = sub(root, AddUsers)
    run(st.open_add())
    assert "super_admin" not in st.roles
    run(st.add_user({"email": "b2@b.test", "role": "admin"}))
    assert users_by_email("b2@b.test")[0].org_id == people.other_org_id


def test_member_session_cannot_add(root, people):
    AddUsers, *_ = states()
    with_token(root, sign_in(people.member.email))
    st = sub(root, AddUsers)
    run(st.add_user({"email": "m@a.test"}))
    assert "not allowed" in st.field_errors.get("role", st.form_error)
    assert users_by_email("m@a.test") == []


# ------------------------------------------------------------------------------------------------- import
def test_upload_refuses_bad_files_with_a_message(root, people):
    AddUsers, *_ = states()
    admin_tab(root, people.admin)
    st = sub(root, AddUsers)
    for data, msg in ((b"email,name\nx@a.test,X\n", "Wrong columns"),
                      ((HEADER + "j@a.test,J\xfcrgen,,,\n").encode("latin-1"), "not UTF-8"),
                      (b"x" * (6 * 1024 * 1024), "larger than 5 MB")):
        assert run(st.handle_upload([upload(data)])) is None
        assert msg in st.import_error
    assert run(st.handle_upload([])) is None and "exactly one" in st.import_error
    assert run(st.handle_upload("junk")) is None and "exactly one" in st.import_error
    assert st.total == 0 and st.importing is False


def test_import_runs_in_batches_with_results_and_is_idempotent(root, people, monkeypatch):
    AddUsers, *_ = states()
    import services.users.user_import as ui

    monkeypatch.setattr(ui, "BATCH_ROWS", 4)
    admin_tab(root, people.admin)
    st = sub(root, AddUsers)
    lines = "".join(f"u{i}@a.test,U{i},member,,\n" for i in range(9))
    data = (HEADER + lines + "bad,Bad,member,,\nmember@a.test,M,member,,\nq@a.test,=cmd(),member,,\n").encode()
    ret = run(st.handle_upload([upload(data)]))
    assert [e.name for e in Event.from_event_type(ret)][0].endswith("run_import")
    assert st.total == 12 and st.file_name == "users.csv"
    run(type(st).run_import.fn(st))
    assert (st.created, st.exists, st.invalid, st.processed, st.importing) == (9, 1, 2, 12, False)
    assert st.progress == 100
    assert len(st.result_rows) == 12 and st.result_rows[0]["link"].startswith("http")
    st.set_results_filter("invalid")
    assert [r["row"] for r in st.result_rows] == ["11", "13"]
    st.set_results_filter({"evil": 1})
    assert st.results_filter == "all"
    st.results_page_by("999")
    assert st.results_page == 0
    assert len(users_by_email("u8@a.test")) == 1

    run(st.handle_upload([upload(data)]))
    run(type(st).run_import.fn(st))
    assert (st.created, st.exists, st.invalid) == (0, 10, 2)


def test_import_stops_when_the_session_ends(root, people):
    AddUsers, *_ = states()
    token = admin_tab(root, people.admin)
    st = sub(root, AddUsers)
    run(st.handle_upload([upload((HEADER + "z@a.test,Z,,,\n").encode())]))
    with Session(get_engine()) as s:
        sessions.revoke(s, token)
        s.commit()
    run(type(st).run_import.fn(st))
    assert "session ended" in st.import_error and users_by_email("z@a.test") == []


# ------------------------------------------------------------------------------------------------- export
def _download_csv(ret) -> list[dict]:
    return list(csv.DictReader(io.StringIO(download_of(ret)[1])))


def test_export_sends_the_org_csv_to_this_tab_and_refuses_bad_kinds(root, people):
    _, Export, *_ = states()
    admin_tab(root, people.admin)
    st = sub(root, Export)
    ret = run(type(st).export.fn(st, "full"))
    rows = _download_csv(ret)
    assert {r["email"] for r in rows} == {"admin@a.test", "finance@a.test", "member@a.test"}
    assert "used_total" in rows[0] and st.exporting is False
    assert run(type(st).export.fn(st, {"kind": "full"})) is None and "basic or a full" in st.error


def test_export_for_another_org_needs_the_super_admin_switcher(root, people):
    _, Export, *_ = states()
    admin_tab(root, people.super_admin)
    st = sub(root, Export)
    assert run(type(st).export.fn(st, "basic")) is None and "Choose an organization" in st.error


# -------------------------------------------------------------------------------------------- public pages
def test_register_verify_and_invite_pages(root, people, monkeypatch):
    _, _, Invite, Register, Verify = states()
    sent = []
    monkeypatch.setattr("services.core.mailer.send_now", lambda to, subject, body: sent.append(body) or True)
    reg = sub(root, Register)
    run(reg.register({"email": "n@a.test", "name": "N", "password": "a-good-long-password",
                      "confirm": "different-password"}))
    assert "do not match" in reg.error
    run(reg.register({"email": "n@a.test", "name": "N", "password": "a-good-long-password",
                      "confirm": "a-good-long-password"}))
    assert "Check your inbox" in reg.message
    token = re.search(r"token=([\w-]+)", sent[-1]).group(1)

    ver = sub(root, Verify)
    _with_query(monkeypatch, token)
    run(ver.confirm())
    assert "You joined Org A" in ver.message
    run(ver.confirm())
    assert "invalid" in ver.error

    # an admin's invitation, accepted on the public page
    AddUsers, *_ = states()
    admin_tab(root, people.admin)
    run(sub(root, AddUsers).add_user({"email": "inv@a.test", "role": "member"}))
    link = sub(root, AddUsers).added_link
    inv = sub(root, Invite)
    _with_query(monkeypatch, re.search(r"token=([\w-]+)", link).group(1))
    run(inv.load())
    assert inv.email == "inv@a.test"
    ret = run(inv.accept({"password": "a-good-long-password", "confirm": "a-good-long-password"}))
    assert redirect_of(ret) == "/login"
    assert users_by_email("inv@a.test")[0].verified
    run(inv.load())
    assert "invalid" in inv.error and inv.email == ""


def _with_query(monkeypatch, token):
    import admin_panel.features.signup.state as signup

    monkeypatch.setattr(signup, "_token", lambda state: token)
