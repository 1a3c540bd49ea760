"""Attacks on the sign-in steps over the raw socket: a replayed TOTP code, password guessing (slowed down, never
a lock-out of the owner's browser), and a signed-out session token kept and replayed by an attacker."""

from __future__ import annotations

from sqlmodel import Session, select

import admin_panel.admin_panel  # noqa: F401  (registers the states under the app's root state)
from admin_panel.features.member.state import MemberState
from admin_panel.features.signin.mfa_state import MfaVerifyState
from admin_panel.features.signin.state import LoginState
from admin_panel.shell.session import SessionState
from admin_panel.shell.state import ShellState
from models import AuthSession, LoginThrottle
from services.auth import signin, throttle
from services.core import settings

from .registry import protected_handlers
from .snapshots import diff, snapshot
from .tab import Tab
from .world import PASSWORD, World

# Event names from the state classes themselves (a state's name follows its module path).
VERIFY = f"{MfaVerifyState.get_full_name()}.verify"
SIGN_IN = f"{LoginState.get_full_name()}.sign_in"
SIGN_OUT = f"{SessionState.get_full_name()}.sign_out"
SHELL_LOAD = f"{ShellState.get_full_name()}.load"
MEMBER_LOAD = f"{MemberState.get_full_name()}.load"


def deltas(updates) -> dict:
    out: dict = {}
    for u in updates:
        for state, values in u.delta.items():
            out.setdefault(state, {}).update(values)
    return out


def redirects(updates) -> list[str]:
    return [r for u in updates for r in u.redirects]


def field(updates, state_suffix: str, name: str):
    for state, values in deltas(updates).items():
        if state.endswith(state_suffix) and f"{name}_rx_state_" in values:
            return values[f"{name}_rx_state_"]
    return None


def test_a_totp_code_is_accepted_once(world: World, app_url: str) -> None:
    code = world.totp("beta_admin2").now()
    first, second = world.sign_in("beta_admin2"), world.sign_in("beta_admin2")

    with Tab(app_url, first) as tab:
        assert redirects(tab.call(SHELL_LOAD, {"nav_key": "users"})) == ["/mfa/verify"]  # not verified yet
        assert redirects(tab.call(VERIFY, {"form_data": {"code": code}})) == ["/admin"]
    assert world.session_row(first).mfa_verified_at is not None

    with Tab(app_url, second) as tab:
        got = tab.call(VERIFY, {"form_data": {"code": code}})
        assert redirects(got) == [] and field(got, "mfa_verify_state", "error"), got
        assert redirects(tab.call(SHELL_LOAD, {"nav_key": "users"})) == ["/mfa/verify"]
    assert world.session_row(second).mfa_verified_at is None


def test_password_guessing_slows_the_account_down_but_never_keeps_out_a_browser_that_signed_in_before(
        world: World, app_url: str) -> None:
    email = world.emails["alpha_member2"]
    eng = world.engine()
    sessions_of = select(AuthSession).where(AuthSession.user_id == world.ids["alpha_member2"])
    try:
        with Tab(app_url) as owner:  # the owner signs in once: a member's sign-in is complete, the browser trusted
            got = owner.call(SIGN_IN, {"form_data": {"email": email, "password": PASSWORD}})
            assert redirects(got) == ["/me"], got
            device = field(got, "auth_state", "device")
            assert device and device != field(got, "auth_state", "token")
        with Session(eng) as s:
            before = len(s.exec(sessions_of).all())

        key = f"login:acct:{email}"
        with Tab(app_url) as tab:  # an attacker guesses
            for i in range(settings.THROTTLE_ACCOUNT_FREE):
                got = tab.call(SIGN_IN, {"form_data": {"email": email, "password": f"guess-{i}"}})
                assert field(got, "login_state", "error") == signin.BAD_LOGIN and not redirects(got), got
            with Session(eng) as s:
                assert s.get(LoginThrottle, key).failures == settings.THROTTLE_ACCOUNT_FREE
                # Set-up: five more failures through the service, so the wait (64 s) outlasts a slow machine's
                # next steps (the first one is 2 s; the exact waits are tests/services/test_sign_in.py's).
                for _ in range(5):
                    throttle.fail(s, [key])
                s.commit()
            got = tab.call(SIGN_IN, {"form_data": {"email": email, "password": PASSWORD}})
            assert "Too many failed attempts" in field(got, "login_state", "error"), got
            assert not redirects(got) and field(got, "auth_state", "token") is None, got
        with Session(eng) as s:
            assert len(s.exec(sessions_of).all()) == before, "the right password made a session while slowed"
            # The wait is in the database: a fresh check (as another worker would make) refuses too.
            assert not signin.sign_in(s, email=email, password=PASSWORD).ok
            s.rollback()

        with Tab(app_url, device=device) as owner:  # the owner's browser, same address: never slowed down
            got = owner.call(SIGN_IN, {"form_data": {"email": email, "password": PASSWORD}})
            assert redirects(got) == ["/me"] and field(got, "auth_state", "token"), got
        with Tab(app_url, device=device[:-3] + "xyz") as forged:  # an altered token is not trusted
            got = forged.call(SIGN_IN, {"form_data": {"email": email, "password": PASSWORD}})
            assert "Too many failed attempts" in field(got, "login_state", "error"), got
    finally:
        eng.dispose()


def test_a_signed_out_token_can_no_longer_call_anything(world: World, app_url: str) -> None:
    token = world.sign_in("alpha_finance", verified=True)
    with Tab(app_url, token) as tab:
        got = tab.call(SHELL_LOAD, {"nav_key": "stats"})
        assert field(got, "shell_state", "email") == world.emails["alpha_finance"] and not redirects(got)
        got = tab.call(SIGN_OUT)
        assert redirects(got) == ["/login"] and field(got, "auth_state", "token") == ""
    assert world.session_row(token).revoked_at is not None

    eng = world.engine()
    before = snapshot(eng)
    try:
        with Tab(app_url, token) as tab:  # the attacker kept the token and puts it back in storage
            for h in protected_handlers():
                got = tab.call(h.name, {})
                assert len(got) == 1 and got[0].delta == {} and got[0].redirects == ["/login"], (h.name, got)
        assert not diff(before, snapshot(eng))
    finally:
        eng.dispose()
