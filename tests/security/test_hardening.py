"""Attacks found by the independent review, replayed over the raw socket against the real backend: a session
that outlives a reset of the user's MFA, and a replayed Reflex client token."""

from __future__ import annotations

from sqlmodel import Session

from models import utcnow
from services import mfa
from services.actor import Actor

from .snapshots import diff, snapshot
from .tab import Tab
from .test_attacks import SHELL_LOAD, STATES, field, redirects
from .world import World

MFA_SETUP_LOAD = STATES + "mfa____mfa_setup_state.load"
MFA_SETUP_CONFIRM = STATES + "mfa____mfa_setup_state.confirm"


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
            assert field(got, "mfa_setup_state", "secret") is None and field(got, "mfa_setup_state", "qr_data_uri") is None
            got = tab.call(MFA_SETUP_CONFIRM, {"form_data": {"code": "123456"}})
            assert redirects(got) == ["/login"], got
            assert redirects(tab.call(SHELL_LOAD, {"nav_key": "users"})) == ["/login"]
            assert not diff(before, snapshot(eng)), "a revoked session changed the database"
        finally:
            eng.dispose()
    assert world.session_row(token).revoked_at is not None


SAVE_WEBHOOK = STATES + "api_keys____api_keys_state.save_webhook"


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
