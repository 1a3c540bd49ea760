"""Handlers of the sign-in, MFA, member, admin and sign-out states, called directly with and without a session."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pyotp
from sqlmodel import Session, select

from models import AuthSession
from services.auth import sessions, signin
from services.core.actor import Actor
from services.core.db import get_engine

from .conftest import PASSWORD, enrol_and_verify, redirect_of, sign_in, sub, totp_secret, with_token


def states():
    from admin_panel.features.member.state import MemberState
    from admin_panel.features.signin.mfa_state import MfaSetupState, MfaVerifyState
    from admin_panel.features.signin.state import ForgotPasswordState, LoginState, ResetPasswordState
    from admin_panel.runtime.guard import AuthState
    from admin_panel.shell.session import SessionState
    from admin_panel.shell.state import ShellState

    return dict(auth=AuthState, login=LoginState, forgot=ForgotPasswordState, reset=ResetPasswordState,
                session=SessionState, member=MemberState, admin=ShellState, setup=MfaSetupState,
                verify=MfaVerifyState)


def run(coro):
    return asyncio.run(coro)


def resolve(token):
    with Session(get_engine()) as s:
        return sessions.resolve(s, token, touch=False)


# ------------------------------------------------------------------------------------------------ sign-in
def test_wrong_password_shows_the_message_and_stores_nothing(root, people):
    S = states()
    login = sub(root, S["login"])
    ret = run(login.sign_in({"email": people.member.email, "password": "wrong-password-here"}))
    assert redirect_of(ret) is None
    assert login.error == signin.BAD_LOGIN
    assert sub(root, S["auth"]).token == ""


def test_bad_form_values_are_refused(root, people):
    S = states()
    login = sub(root, S["login"])
    for form in (None, [], {"email": ["x"], "password": {"a": 1}}, {"email": "a" * 10_000, "password": "x"}):
        assert redirect_of(run(login.sign_in(form))) is None
        assert login.error
    assert sub(root, S["auth"]).token == ""


def test_member_signs_in_to_the_member_page(root, people):
    S = states()
    ret = run(sub(root, S["login"]).sign_in({"email": people.member.email, "password": PASSWORD}))
    assert redirect_of(ret) == "/me"
    token = sub(root, S["auth"]).token
    info = resolve(token)
    assert info and info.user_id == people.member.id
    assert "auth_state" in str(root.get_delta())  # the token goes to the browser's storage

    member = sub(root, S["member"])
    assert redirect_of(run(member.load())) is None
    assert member.loaded and member.email == people.member.email
    assert member.allocation.replace(",", "").isdigit() and member.resets_on
    assert not member.is_admin


def test_member_page_without_a_session_redirects(root, people):
    S = states()
    member = sub(root, S["member"])
    assert redirect_of(run(member.load())) == "/login"
    assert not member.loaded


def test_admin_enrols_mfa_then_lands_on_admin(root, people):
    S = states()
    ret = run(sub(root, S["login"]).sign_in({"email": people.admin.email, "password": PASSWORD}))
    assert redirect_of(ret) == "/mfa/setup"
    setup = sub(root, S["setup"])
    assert redirect_of(run(setup.load())) is None
    assert setup.secret and setup.qr_data_uri.startswith("data:image/svg+xml")

    run(setup.confirm({"code": "000000" if pyotp.TOTP(setup.secret).now() != "000000" else "111111"}))
    assert setup.error and not setup.recovery_codes

    run(setup.confirm({"code": pyotp.TOTP(setup.secret).now()}))
    assert setup.error == "" and len(setup.recovery_codes) == 10
    assert setup.secret == "" and setup.qr_data_uri == ""
    assert resolve(sub(root, S["auth"]).token).mfa_ok

    assert redirect_of(run(setup.finish())) == "/admin"
    assert setup.recovery_codes == []

    admin = sub(root, S["admin"])
    assert redirect_of(run(admin.load("users"))) is None
    assert admin.org_name == "Org A" and admin.role_label == "Org admin"
    assert not admin.is_super and admin.orgs == []
    assert "orgs" not in admin.nav_keys and "users" in admin.nav_keys
    # a page the role may not use sends it to its first page; unknown keys too
    assert redirect_of(run(admin.load("orgs"))) == "/admin/users"
    assert redirect_of(run(admin.load({"x": 1}))) == "/admin/users"
    assert redirect_of(run(admin.land())) == "/admin/users"


def test_mfa_setup_without_session_or_when_enrolled(root, people):
    S = states()
    setup = sub(root, S["setup"])
    assert redirect_of(run(setup.load())) == "/login"
    token = sign_in(people.admin.email)
    enrol_and_verify(people.admin.id, token)
    with_token(root, sign_in(people.admin.email))
    assert redirect_of(run(setup.load())) == "/mfa/verify"
    assert setup.secret == ""


def test_verify_code_replay_and_recovery_code(root, people):
    S = states()
    enrol_and_verify(people.finance.id, sign_in(people.finance.email))
    ret = run(sub(root, S["login"]).sign_in({"email": people.finance.email, "password": PASSWORD}))
    assert redirect_of(ret) == "/mfa/verify"
    verify = sub(root, S["verify"])
    assert redirect_of(run(verify.load())) is None

    # The code used for enrolment was just accepted: a replay is refused.
    code = pyotp.TOTP(totp_secret(people.finance.id)).now()
    assert redirect_of(run(verify.verify({"code": code}))) is None
    assert verify.error
    assert not resolve(sub(root, S["auth"]).token).mfa_ok

    # A recovery code works once.
    from services.auth import mfa

    with Session(get_engine(), expire_on_commit=False) as s:
        codes = mfa.new_recovery_codes(s, people.finance.id)
        s.commit()
    assert redirect_of(run(verify.verify({"code": codes[0]}))) == "/admin"
    assert verify.error == ""
    assert resolve(sub(root, S["auth"]).token).mfa_ok


def test_verify_is_throttled_with_the_service_message(root, people):
    S = states()
    enrol_and_verify(people.admin.id, sign_in(people.admin.email))
    with_token(root, sign_in(people.admin.email))
    verify = sub(root, S["verify"])
    messages = set()
    for _ in range(12):
        run(verify.verify({"code": "abcdef"}))
        messages.add(verify.error)
    assert len(messages) >= 2  # "not valid" first, then the throttling message of the service
    assert any("not valid" not in m for m in messages)
    assert not resolve(sub(root, S["auth"]).token).mfa_ok


def test_verify_without_session(root, people):
    S = states()
    verify = sub(root, S["verify"])
    assert redirect_of(run(verify.verify({"code": "123456"}))) == "/login"


# -------------------------------------------------------------------------------------------- admin page
def _super_root(root, people):
    token = sign_in(people.super_admin.email)
    enrol_and_verify(people.super_admin.id, token)
    return with_token(root, token), token


def test_super_admin_switches_org(root, people):
    S = states()
    _, token = _super_root(root, people)
    admin = sub(root, S["admin"])
    run(admin.load("users"))
    assert admin.is_super and admin.org_name == "All organizations" and not admin.has_org
    assert [o["name"] for o in admin.orgs] == ["Org A", "Org B"]

    admin.set_org_query("b")
    assert [o["name"] for o in admin.filtered_orgs] == ["Org B"]

    ret = run(admin.switch_org(str(people.other_org_id)))
    assert ret is not None and admin.error == ""
    run(admin.load("users"))
    assert admin.org_name == "Org B" and admin.has_org
    assert resolve(token).org_id == people.other_org_id

    run(admin.switch_org("all"))
    run(admin.load("users"))
    assert admin.org_name == "All organizations"


def test_switch_org_refuses_bad_ids_and_org_admins(root, people):
    S = states()
    _, token = _super_root(root, people)
    admin = sub(root, S["admin"])
    for bad in ("9999", "abc", "1" * 40, {"id": 1}, None):
        admin.error = ""
        run(admin.switch_org(bad))
        if bad is not None:
            assert admin.error == "Organization not found.", bad
    assert resolve(token).org_id is None

    token2 = sign_in(people.admin.email)
    enrol_and_verify(people.admin.id, token2)
    with_token(root, token2)
    admin.error = ""
    run(admin.switch_org(str(people.other_org_id)))
    assert admin.error  # Forbidden from the service
    assert resolve(token2).org_id == people.org_id


# --------------------------------------------------------------------------------------------- sign out
def test_sign_out_revokes_and_clears_protected_states(root, people):
    S = states()
    token = sign_in(people.member.email)
    with_token(root, token)
    member = sub(root, S["member"])
    run(member.load())
    assert member.loaded
    ret = run(sub(root, S["session"]).sign_out())
    assert redirect_of(ret) == "/login"
    assert sub(root, S["auth"]).token == ""
    assert not member.loaded and member.email == ""
    assert resolve(token) is None
    with Session(get_engine()) as s:
        row = s.exec(select(AuthSession)).first()
        assert row.revoked_at is not None


def test_login_page_sends_signed_in_browsers_on(root, people):
    S = states()
    login = sub(root, S["login"])
    assert redirect_of(run(login.check_signed_in())) is None
    with_token(root, "x" * 43)
    assert redirect_of(run(login.check_signed_in())) is None
    assert sub(root, S["auth"]).token == ""  # a dead token is dropped
    with_token(root, sign_in(people.member.email))
    assert redirect_of(run(login.check_signed_in())) == "/me"


# ------------------------------------------------------------------------------------- password reset
def test_forgot_and_reset_password(root, people):
    S = states()
    forgot = sub(root, S["forgot"])
    run(forgot.request_link({"email": "nobody@a.test"}))
    unknown = forgot.message
    run(forgot.request_link({"email": people.member.email}))
    assert forgot.message == unknown and "If an account exists" in unknown

    old_token = sign_in(people.member.email)
    with Session(get_engine(), expire_on_commit=False) as s:
        link = signin.admin_reset_link(s, actor=Actor(people.super_admin.id, "super_admin", None),
                                     user_id=people.member.id)
        s.commit()
    raw = parse_qs(urlsplit(link).query)["token"][0]

    reset = sub(root, S["reset"])
    rd = {"pathname": "/reset-password", "asPath": f"/reset-password?token={raw}",
          "headers": {"origin": "http://localhost"}}
    root.router_data = root._update_router_vars(rd, {})
    assert reset.router.url.query_parameters.get("token") == raw

    run(reset.set_new_password({"password": "a-new-long-password", "confirm": "different-password"}))
    assert reset.error and not reset.done
    run(reset.set_new_password({"password": "short", "confirm": "short"}))
    assert reset.error and not reset.done
    run(reset.set_new_password({"password": "a-new-long-password", "confirm": "a-new-long-password"}))
    assert reset.error == "" and reset.done
    assert resolve(old_token) is None  # other sessions revoked
    run(reset.set_new_password({"password": "a-new-long-password", "confirm": "a-new-long-password"}))
    assert "invalid or has expired" in reset.error  # single use
