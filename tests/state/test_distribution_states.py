"""Token Distribution, Token Requests and member-page handlers, called directly: good paths, bad input
(negative, huge, strings, wrong shapes), other orgs' ids, step-up for large grants."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import Session, select

from models import AuthSession, DistributionPolicy, DistributionRun, Purchase, TokenRequest, User, utcnow
from services.core import settings
from services.core.db import get_engine
from tests.conftest import snapshot

from .conftest import enrol_and_verify, sign_in, sub, with_token


def run(coro):
    return asyncio.run(coro)


def S():
    from admin_panel.features.distribution.state import DistributionState
    from admin_panel.features.member.state import MemberState
    from admin_panel.features.requests.state import RequestsState
    from admin_panel.shell.stepup import StepUpState

    return DistributionState, RequestsState, MemberState, StepUpState


def _buy(org_id, tokens=4_000_000):
    with Session(get_engine()) as s:
        s.add(Purchase(org_id=org_id, tokens=tokens, training_tokens=0, purchased_at=utcnow() - timedelta(days=1)))
        s.commit()


def admin_root(root, people):
    token = sign_in(people.admin.email)
    enrol_and_verify(people.admin.id, token)
    return with_token(root, token)


def test_policy_presets_edits_and_bad_input(root, people):
    Dist, *_ = S()
    _buy(people.org_id)
    d = sub(admin_root(root, people), Dist)
    run(d.load())
    assert d.cards["purchased"] == "4,000,000" and d.preset_label == "Custom"
    run(d.choose_preset("standard"))
    assert d.preset_label == "Standard" and d.pol["floor"] == "500000" and d.pol["ceiling"] == "5000000"
    form = {**d.pol, "auto_increase": "on", "trigger_pct": "85"}
    run(d.save_policy(form))
    assert d.error == "" and d.preset_label == "Custom" and d.pol["trigger_pct"] == "85"
    before = snapshot(get_engine())
    for bad in ({**form, "floor": "-1"}, {**form, "floor": "1e99"}, {**form, "trigger_pct": "lots"},
                {**form, "ceiling": "10"}, {**form, "reserve_pct": 10**12}, {**form, "schedule": ["daily"]}):
        d.error = ""
        run(d.save_policy(bad))
        assert d.error, bad
    for bad in (None, [], "x"):
        d.error = ""
        run(d.save_policy(bad))
    run(d.choose_preset("reckless"))
    assert d.error == "Unknown preset."
    run(d.set_kind("gold"))
    assert d.kind == "tokens"
    assert snapshot(get_engine()) == before


def test_overrides_exclusions_and_other_orgs(root, people):
    Dist, *_ = S()
    _buy(people.org_id)
    d = sub(admin_root(root, people), Dist)
    run(d.load())
    run(d.save_override({"email": people.member.email, "floor": "300000", "ceiling": "900000"}))
    assert d.error == "" and [o["email"] for o in d.overrides] == [people.member.email]
    assert d.overrides[0]["ceiling"] == "900,000"
    with Session(get_engine()) as s:
        other = User(email="x@b.test", org_id=people.other_org_id, role="member")
        s.add(other)
        s.commit()
        other_id = other.id
    before = snapshot(get_engine())
    for form in ({"email": "x@b.test", "floor": "1"}, {"email": "nobody@a.test", "floor": "1"},
                 {"email": people.member.email, "floor": "-5"}, {"email": people.member.email, "ceiling": "abc"},
                 {"email": 42, "floor": "1"}, None):
        d.error = ""
        run(d.save_override(form))
        assert d.error, form
    run(d.clear_override(str(other_id)))
    assert d.error == "User not found."
    for bad in ("abc", "-1", "9" * 40, None):
        run(d.include(bad))
        assert d.error == "User not found."
    assert snapshot(get_engine()) == before
    run(d.exclude({"email": people.member.email}))
    assert [u["email"] for u in d.excluded] == [people.member.email]
    run(d.include(d.excluded[0]["user_id"]))
    assert d.excluded == []


def test_preview_then_execute_then_history(root, people):
    Dist, *_ = S()
    _buy(people.org_id)
    d = sub(admin_root(root, people), Dist)
    run(d.load())
    d.ask_confirm()
    assert d.confirm_open is False  # nothing to confirm without a preview
    d.set_strategy("lottery")
    assert d.strategy == "equal"
    run(d.preview())
    assert d.has_preview and d.preview_totals["participants"] == "3"  # admin, finance, member (paid)
    assert d.preview_totals["proposed_total"] == "3,999,999"
    assert {r["proposed"] for r in d.preview_rows} == {"1,333,333"}
    d.preview_goto("2")
    d.preview_goto(10**9)
    assert d.preview_page == 1
    d.ask_confirm()
    assert d.confirm_open
    run(Dist.execute.fn(d))  # a background task: the function itself (no StateProxy needed here)
    assert d.error == "" and d.notice.startswith("Distribution #")
    assert len(d.history) == 1 and d.history[0]["changed"] == "3"
    run(d.show_run(d.history[0]["id"]))
    assert len(d.detail_rows) == 3
    for bad in ("abc", "999", "-1", None, "1" * 40):
        d.error = ""
        run(d.show_run(bad))
        assert d.error == "Distribution run not found."
    with Session(get_engine()) as s:
        assert s.get(User, people.member.id).max_tokens == 1_333_333


def test_stale_preview_is_refused(root, people):
    Dist, *_ = S()
    _buy(people.org_id)
    d = sub(admin_root(root, people), Dist)
    run(d.preview())
    with Session(get_engine()) as s:
        u = s.get(User, people.member.id)
        u.max_tokens = 777_777
        s.add(u)
        s.commit()
    d.ask_confirm()
    run(Dist.execute.fn(d))  # a background task: the function itself (no StateProxy needed here)
    assert "Preview again" in d.error
    with Session(get_engine()) as s:
        assert s.exec(select(DistributionRun)).all() == []


def member_root(root, people):
    return with_token(root, sign_in(people.member.email))


def test_member_requests_and_admin_approves_partially_with_expiry(root, people):
    from reflex.state import State

    Dist, Req, Member, _ = S()
    _buy(people.org_id)
    m = sub(member_root(root, people), Member)
    before = snapshot(get_engine())
    for form in ({"amount": "-5"}, {"amount": "abc"}, {"amount": str(10**30)}, {"amount": {"x": 1}},
                 {"amount": "100", "reason": "r" * 501}, None):
        m.req_error = ""
        run(m.submit_request(form))
        assert m.req_error, form
    m.set_req_kind("gold")
    assert m.req_kind == "tokens"
    assert snapshot(get_engine()) == before
    run(m.submit_request({"amount": "300000", "reason": "launch"}))
    assert m.req_error == "" and m.req_notice.startswith("Request sent")
    run(m.load())
    assert m.my_requests[0]["status"] == "pending" and m.run_out

    admin = sub(admin_root(State(_reflex_internal_init=True), people), Req)
    run(admin.load())
    assert admin.counts["pending"] == 1 and admin.rows[0]["user"] == people.member.email
    run(admin.open_approve("999999"))
    assert admin.error == "Request not found."
    rid = admin.rows[0]["id"]
    run(admin.open_approve(rid))
    assert admin.approve_open and admin.approve_warnings == []
    run(admin.set_approve_amount("5000000"))  # beyond the unassigned pool
    assert admin.approve_warnings and "beyond the unassigned pool" in admin.approve_warnings[0]
    run(admin.set_approve_amount("-1"))
    assert admin.dialog_error
    run(admin.set_approve_amount("150000"))
    admin.set_approve_expires("2999-01-01")
    run(admin.confirm_approve())
    assert admin.dialog_error == "The expiry date is too far away." and admin.approve_open
    expires = f"{utcnow() + timedelta(days=60):%Y-%m-%d}"
    admin.set_approve_expires(expires)
    admin.set_approve_note({"not": "text"})
    run(admin.confirm_approve())
    assert admin.dialog_error == "" and admin.approve_open is False, admin.dialog_error
    assert admin.notice.startswith("Approved 150,000")
    assert admin.counts == {"pending": 0, "approved": 1, "denied": 0, "all": 1}
    with Session(get_engine()) as s:
        r = s.exec(select(TokenRequest)).one()
        assert (r.approved_amount, f"{r.grant_expires_at:%Y-%m-%d}", r.review_note) == (150_000, expires, "")
    run(m.load())
    assert m.allocation == "350,000"  # 200,000 default + 150,000
    assert "150,000" in m.my_requests[0]["status"] and f"until {expires}" in m.my_requests[0]["status"]


def test_deny_and_other_org_admin_sees_nothing(root, people):
    from reflex.state import State

    _, Req, Member, _ = S()
    m = sub(member_root(root, people), Member)
    run(m.submit_request({"amount": "1000", "reason": ""}))
    admin = sub(admin_root(State(_reflex_internal_init=True), people), Req)
    run(admin.load())
    admin.open_deny(admin.rows[0]["id"])
    admin.set_deny_note("not now")
    run(admin.confirm_deny())
    assert admin.notice.startswith("Denied") and admin.counts["denied"] == 1
    run(admin.set_tab("nope"))
    assert admin.tab == "pending"
    run(m.submit_request({"amount": "1000"}))
    assert "denied" in m.req_error  # cooldown


def test_large_grant_asks_for_step_up_then_approves(root, people):
    from reflex.state import State

    _, Req, Member, StepUp = S()
    _buy(people.org_id, tokens=20_000_000)
    m = sub(member_root(root, people), Member)
    amount = settings.STEP_UP_GRANT_TOKENS + 1
    run(m.submit_request({"amount": str(amount)}))
    aroot = admin_root(State(_reflex_internal_init=True), people)
    with Session(get_engine()) as s:  # MFA verified long ago
        for a in s.exec(select(AuthSession).where(AuthSession.user_id == people.admin.id)):
            a.mfa_verified_at = utcnow() - timedelta(hours=1)
            s.add(a)
        s.commit()
    admin = sub(aroot, Req)
    run(admin.load())
    run(admin.open_approve(admin.rows[0]["id"]))
    run(admin.confirm_approve())
    assert sub(aroot, StepUp).is_open and admin.approve_open
    with Session(get_engine()) as s:
        assert s.exec(select(TokenRequest)).one().status == "pending"
        assert s.exec(select(DistributionPolicy)).all() == []


def test_scheduler_runs_due_jobs_once(people, monkeypatch):
    from datetime import UTC, datetime

    from admin_panel.runtime import scheduler

    _buy(people.org_id)
    with Session(get_engine()) as s:
        s.add(DistributionPolicy(org_id=people.org_id, kind="tokens", floor=250_000, monthly_reset=True))
        s.commit()
    first = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    assert scheduler.run_once(first).changed["monthly_reset"] == 3  # admin, finance and member of org A
    assert scheduler.run_once(first + timedelta(minutes=5)).changed["monthly_reset"] == 0
    monkeypatch.setattr(scheduler.settings, "JOBS_INTERVAL_SECONDS", 0)
    assert run(scheduler.run_jobs_forever()) is None  # switched off: returns at once


def test_the_webhook_and_expiry_worker_starts_with_the_app_not_with_the_first_api_call(people, monkeypatch):
    """Registered as a lifespan task: a process that never serves /api/v1 still sends mail and webhooks and expires
    reservations. (The threads themselves are not started here: they would poll whichever test database is
    current.)"""
    from admin_panel.admin_panel import app
    from admin_panel.runtime import scheduler
    from services.core import mailer, webhooks
    from services.gateway import expiry

    started = []
    monkeypatch.setattr(webhooks, "start_worker", lambda engine=None: started.append(("webhooks", engine)))
    monkeypatch.setattr(mailer, "start_worker", lambda engine=None: started.append(("mail", engine)))
    monkeypatch.setattr(expiry, "start_worker", lambda engine=None: started.append(("reservations", engine)))
    assert scheduler.start_background_workers in app._lifespan_tasks
    scheduler.start_background_workers()
    assert sorted(started) == [("mail", None), ("reservations", None), ("webhooks", None)]  # the app's own engine
