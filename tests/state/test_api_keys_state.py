"""API Keys page and notice bell handlers, called directly: list, create (shown once), revoke with
confirmation, step-up when MFA is stale, webhook settings, bad arguments; notices unread/mark read."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import Session, select, update

from models import ApiKey, AuthSession, OrgWebhook, utcnow
from services.core.db import get_engine
from services.gateway import api_keys, reports
from services.orgs import catalog
from services.usage.ledger import gateway_actor

from .conftest import enrol_and_verify, sign_in, sub, with_token


def run(coro):
    return asyncio.run(coro)


def states():
    from admin_panel.features.api_keys.state import ApiKeysState
    from admin_panel.shell.notice_bell import NoticeState
    from admin_panel.shell.stepup import StepUpState

    return ApiKeysState, StepUpState, NoticeState


@pytest.fixture
def admin_tab(root, people):
    token = sign_in(people.admin.email)
    enrol_and_verify(people.admin.id, token)
    with_token(root, token)
    return root


def keys_in_db():
    with Session(get_engine()) as s:
        return s.exec(select(ApiKey).order_by(ApiKey.id)).all()


def stale_mfa():
    with Session(get_engine()) as s:
        s.exec(update(AuthSession).values(mfa_verified_at=utcnow() - timedelta(minutes=11)))
        s.commit()


def test_create_shows_the_key_once_and_lists_it(admin_tab, people):
    KS, _, _ = states()
    page = sub(admin_tab, KS)
    run(page.load())
    assert page.keys == [] and page.error == ""
    run(page.create({"name": "LiteLLM"}))
    assert page.error == "" and page.new_secret.startswith("stw_") and page.create_open
    rows = keys_in_db()
    assert len(rows) == 1 and rows[0].name == "LiteLLM" and rows[0].org_id == people.org_id
    assert page.new_secret not in (rows[0].key_hash, rows[0].prefix)
    run(page.load())
    assert [(k["name"], k["created_by"], k["last_used"], k["active"]) for k in page.keys] == [
        ("LiteLLM", "admin@a.test", "never", "1")]
    assert "stw_" not in str(page.keys[0]["id"]) and page.keys[0]["prefix"].endswith("…")
    page.set_create_open(False)
    assert page.new_secret == ""  # gone once the dialog closes


@pytest.mark.parametrize("form", [None, [], {"name": ""}, {"name": "   "}, {"name": ["x"]}, {"name": "x" * 101}])
def test_bad_create_forms_are_refused(admin_tab, form):
    KS, _, _ = states()
    page = sub(admin_tab, KS)
    run(page.create(form))
    assert page.error and page.new_secret == ""
    assert keys_in_db() == []


def test_stale_mfa_asks_for_step_up_then_retries(admin_tab, people):
    KS, Step, _ = states()
    page = sub(admin_tab, KS)
    stale_mfa()
    run(page.create({"name": "Later"}))
    step = sub(admin_tab, Step)
    assert step.is_open and step._retry.endswith("create_retry")
    assert keys_in_db() == [] and page.new_secret == ""
    with Session(get_engine()) as s:  # the dialog's work: a fresh code marks the session verified
        s.exec(update(AuthSession).values(mfa_verified_at=utcnow()))
        s.commit()
    run(page.create_retry())
    assert [k.name for k in keys_in_db()] == ["Later"] and page.new_secret


def test_revoke_needs_confirmation_and_only_listed_keys(admin_tab, people):
    KS, Step, _ = states()
    page = sub(admin_tab, KS)
    run(page.create({"name": "k1"}))
    run(page.load())
    key_id = page.keys[0]["id"]
    for bad in ("999", None, {"id": key_id}, ""):
        page.ask_revoke(bad)
        assert page.error == "API key not found." and not page.revoke_open
    page.ask_revoke(key_id)
    assert page.revoke_open and page.revoke_name == "k1"
    page.cancel_revoke()
    assert keys_in_db()[0].revoked_at is None
    page.ask_revoke(key_id)
    stale_mfa()
    run(page.confirm_revoke())
    assert sub(admin_tab, Step).is_open and keys_in_db()[0].revoked_at is None
    with Session(get_engine()) as s:
        s.exec(update(AuthSession).values(mfa_verified_at=utcnow()))
        s.commit()
    run(page.confirm_revoke())
    assert keys_in_db()[0].revoked_at is not None and not page.revoke_open
    run(page.load())
    assert page.keys[0]["active"] == "" and page.keys[0]["revoked"]


def test_other_orgs_keys_are_not_listed(admin_tab, people):
    from dataclasses import replace

    from services.core.actor import system_actor

    with Session(get_engine()) as s:
        api_keys.create_key(s, actor=replace(system_actor(people.other_org_id)), name="B's key")
        s.commit()
    KS, _, _ = states()
    page = sub(admin_tab, KS)
    run(page.load())
    assert page.keys == []
    page.ask_revoke(str(keys_in_db()[0].id))
    assert page.error == "API key not found."


def test_webhook_settings(admin_tab, people, dns):
    KS, _, _ = states()
    page = sub(admin_tab, KS)
    run(page.save_webhook({"url": "ftp://nope", "enabled": "on"}))
    assert page.error and page.webhook_secret == ""
    run(page.save_webhook({"url": "https://127.0.0.1:8443/x", "enabled": "on"}))
    assert "loopback address (127.0.0.1)" in page.error and page.webhook_secret == ""
    with Session(get_engine()) as s:
        assert s.get(OrgWebhook, people.org_id) is None
    run(page.save_webhook({"url": "https://hooks.example.com/x", "enabled": "on"}))
    assert page.error == "" and page.webhook_secret.startswith("whsec_")
    first = page.webhook_secret
    run(page.load())
    assert page.has_webhook and page.webhook_url == "https://hooks.example.com/x" and page.webhook_enabled
    run(page.rotate_webhook_secret())
    assert page.webhook_secret.startswith("whsec_") and page.webhook_secret != first
    page.dismiss_secret()
    assert page.webhook_secret == ""
    run(page.remove_webhook())
    with Session(get_engine()) as s:
        assert s.get(OrgWebhook, people.org_id) is None


def test_notice_bell_counts_and_marks_read(admin_tab, people):
    _, _, NS = states()
    with Session(get_engine()) as s:
        catalog.ensure_default_models(s)
        s.commit()
        reports.report_usage(s, actor=gateway_actor(people.org_id), events=[
            {"idempotency_key": "n1", "user": people.member.id, "model": "gpt-4o", "prompt_tokens": 190_000}])
        s.commit()
    bell = sub(admin_tab, NS)
    run(bell.load())
    assert bell.unread == 2 and len(bell.items) == 2  # 80 % and 90 % of the member's 200,000 cap
    assert "member@a.test has used 90%" in bell.items[0]["message"]
    run(bell.mark_all_read())
    assert bell.unread == 0 and all(i["read"] == "1" for i in bell.items)


def test_notice_bell_without_session_shows_nothing(root, people):
    _, _, NS = states()
    bell = sub(root, NS)
    run(bell.load())
    assert bell.unread == 0 and bell.items == []


def test_guard_lets_only_admins_call_the_api_keys_handlers(root, people):
    """Through the default-deny middleware: finance users (MFA verified) are refused, admins pass."""
    from reflex_base.event import Event

    from admin_panel.runtime.guard import GuardMiddleware

    KS, _, NS = states()
    name = KS.get_full_name() + ".create"
    bell = NS.get_full_name() + ".load"

    def guard(event_name):
        return asyncio.run(GuardMiddleware().preprocess(app=None, state=root, event=Event(name=event_name,
                                                                                           payload={})))

    for email, uid, allowed in ((people.finance.email, people.finance.id, False),
                                (people.admin.email, people.admin.id, True)):
        token = sign_in(email)
        enrol_and_verify(uid, token)
        with_token(root, token)
        assert (guard(name) is None) is allowed
        assert guard(bell) is None  # the bell is for every admin role
