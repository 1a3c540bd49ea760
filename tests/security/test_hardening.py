"""Attacks found by the independent review, replayed over the raw socket against the real backend: a session
that outlives a reset of the user's MFA, and a replayed Reflex client token."""

from __future__ import annotations

import json
import statistics
import time

from sqlmodel import Session

from admin_panel.features.api_keys.state import ApiKeysState
from admin_panel.features.signin.mfa_state import MfaSetupState
from admin_panel.features.signup.state import RegisterState
from admin_panel.features.statistics.state import StatsState
from models import utcnow
from services.auth import mfa, registration, throttle
from services.core.actor import Actor

from .registry import ROOT_STATE
from .sio import RawSocket
from .snapshots import diff, snapshot
from .tab import Tab
from .test_attacks import SHELL_LOAD, SIGN_IN, field, redirects
from .world import World

MFA_SETUP_LOAD = f"{MfaSetupState.get_full_name()}.load"
MFA_SETUP_CONFIRM = f"{MfaSetupState.get_full_name()}.confirm"


def _reset_mfa(world: World, key: str) -> None:
    eng = world.engine()
    try:
        with Session(eng) as s:
            sup = Actor(world.ids["super"], "super_admin", None, email=world.emails["super"], mfa_verified_at=utcnow())
            mfa.reset_mfa(s, actor=sup, user_id=world.ids[key])
            s.commit()
    finally:
        eng.dispose()


def test_reset_mfa_signs_the_user_out_so_no_new_secret_is_enrolled_without_the_password(world: World,
                                                                                       app_url: str) -> None:
    token = world.sign_in("beta_admin_reset", verified=True)
    with Tab(app_url, token) as tab:
        got = tab.call(SHELL_LOAD, {"nav_key": "users"})
        assert field(got, "shell_state", "email") == world.emails["beta_admin_reset"] and not redirects(got)
        _reset_mfa(world, "beta_admin_reset")
        eng = world.engine()
        before = snapshot(eng)
        try:
            got = tab.call(MFA_SETUP_LOAD)
            assert redirects(got) == ["/login"], got
            assert (field(got, "mfa_setup_state", "secret") is None
                    and field(got, "mfa_setup_state", "qr_data_uri") is None)
            got = tab.call(MFA_SETUP_CONFIRM, {"form_data": {"code": "123456"}})
            assert redirects(got) == ["/login"], got
            assert redirects(tab.call(SHELL_LOAD, {"nav_key": "users"})) == ["/login"]
            assert not diff(before, snapshot(eng)), "a revoked session changed the database"
        finally:
            eng.dispose()
    assert world.session_row(token).revoked_at is not None


SAVE_WEBHOOK = f"{ApiKeysState.get_full_name()}.save_webhook"


def test_an_org_admin_cannot_point_the_webhook_at_loopback_or_private_hosts(world: World, app_url: str) -> None:
    token = world.sign_in("alpha_admin", verified=True)  # MFA just verified: the step-up is fresh
    eng = world.engine()
    before = snapshot(eng)
    try:
        with Tab(app_url, token) as tab:
            for url in ("https://127.0.0.1/hook", "https://localhost:3000/hook", "https://169.254.169.254/latest",
                        "https://10.0.0.1/hook", "https://[::1]/hook", "http://127.0.0.1:8000/hook"):
                got = tab.call(SAVE_WEBHOOK, {"form_data": {"url": url, "enabled": "on"}})
                error = field(got, "api_keys_state", "error") or ""
                assert "public addresses" in error or "must start with https://" in error, (url, got)
                assert not field(got, "api_keys_state", "webhook_secret"), got
        assert not diff(before, snapshot(eng)), "a refused webhook URL changed the database"
    finally:
        eng.dispose()


def _seen(updates, text: str) -> bool:
    return text in json.dumps([u.delta for u in updates])


def test_a_replayed_client_token_does_not_get_the_tabs_signed_in_state(world: World, app_url: str) -> None:
    """The victim's tab is signed in and has loaded its page; it disconnects. An attacker who learned the
    tab's Reflex client token (not the Steward session token) opens sockets with it."""
    token = world.sign_in("alpha_finance", verified=True)
    email = world.emails["alpha_finance"]
    with Tab(app_url, token) as victim:
        got = victim.call(SHELL_LOAD, {"nav_key": "stats"})
        assert field(got, "shell_state", "email") == email
        client_token = victim.sock.client_token

    # 1. A socket that never hydrates: every event runs signed out.
    sock = RawSocket(app_url)
    sock.client_token = client_token
    sock.connect(None)
    try:
        for name, payload in ((SHELL_LOAD, {"nav_key": "stats"}), (f"{StatsState.get_full_name()}.load", {})):
            sock.emit(name, payload)
            got = sock.receive_until(lambda u: bool(u.redirects))
            assert got[-1].redirects == ["/login"] and not _seen(got, email), got
    finally:
        sock.close()

    # 2. A socket that hydrates without the Steward token: the snapshot holds none of the old page's data.
    with Tab(app_url, None, client_token=client_token) as attacker:
        assert not _seen(attacker.hydration, email) and not _seen(attacker.hydration, token), attacker.hydration
        assert redirects(attacker.call(SHELL_LOAD, {"nav_key": "stats"})) == ["/login"]

    # The victim's own browser reconnecting (same client token, its storage proves the session) is signed in.
    with Tab(app_url, token, client_token=client_token) as again:
        got = again.call(SHELL_LOAD, {"nav_key": "stats"})
        assert field(got, "shell_state", "email") == email and not redirects(got)
    assert world.session_alive(token)


def test_client_and_session_tokens_stay_out_of_the_server_log(world: World, app_url: str) -> None:
    token = world.sign_in("alpha_member", verified=False)
    with Tab(app_url, token) as tab:
        client_token = tab.sock.client_token
        tab.call(f"{ROOT_STATE}.no_such_state.load", {})  # Reflex logs the failed event with its router data
        tab.call(SIGN_IN, {"bogus": token})  # a traceback naming the payload
    log_path = world.workdir / "reflex.log"
    deadline = time.monotonic() + 15
    while "No registered handler found" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log_path.read_text()
    assert "No registered handler found" in text, "the probe did not reach the log"
    assert client_token not in text and token not in text


REGISTER = f"{RegisterState.get_full_name()}.register"


def test_registering_takes_as_long_for_an_existing_address_as_for_a_new_one(world: World, app_url: str) -> None:
    """/register gives the same answer either way; its time must not tell either (20 tries each, interleaved;
    the per-address registration limit is cleared before each try so every try does the full work)."""
    eng = world.engine()
    took: dict[str, list[float]] = {"existing": [], "new": []}
    try:
        with Tab(app_url, router_path="/register") as tab:
            for i in range(20):
                for kind, email in (("existing", world.emails["alpha_member"]), ("new", f"timing{i}@newcomer.test")):
                    with Session(eng) as s:
                        throttle.clear(s, ["register:ip:127.0.0.1"])
                        s.commit()
                    form = {"email": email, "name": "Timing Probe", "password": "a-long-password-1",
                            "confirm": "a-long-password-1"}
                    start = time.perf_counter()
                    got = tab.call(REGISTER, {"form_data": form})
                    took[kind].append(time.perf_counter() - start)
                    assert field(got, "register_state", "message") == registration.ANSWER, got
    finally:
        eng.dispose()
    existing, new = statistics.median(took["existing"]), statistics.median(took["new"])
    assert abs(existing - new) <= 0.2 * max(existing, new), (existing, new)
