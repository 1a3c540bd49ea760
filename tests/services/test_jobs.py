"""The automatic jobs on a driven clock: each does its work once per period (running twice changes nothing),
across a month boundary; auto-increase methods, cooldown, near-ceiling bump, tiered mode and the automatic
request when the ceiling or pool stops it; reclamation with its buffer; grant and ban expiry; scheduled
distribution; the CLI."""

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from models import DistributionRun, TokenRequest, User
from services.core.actor import system_actor
from services.ops import cli
from services.ops.jobs import run_due_jobs
from services.tokens import requests as tr
from tests.conftest import snapshot
from tests.services.dist_helpers import add_usage, build_org, caps, set_policy

NOV20 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEC1 = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)


def _jobs(session, now):
    rep = run_due_jobs(session, now=now)
    session.commit()
    return rep


def test_monthly_reset_once_per_month_across_the_boundary(session, engine):
    o = build_org(session, [700_000, 900_000, 150_000])
    set_policy(session, o.id, floor=200_000, monthly_reset=True)
    o.members[1].pinned = True
    session.add(o.members[1])
    session.commit()
    _jobs(session, NOV20)  # switched on mid-month: nothing until the 1st
    assert caps(session, o.members) == [700_000, 900_000, 150_000]
    rep = _jobs(session, DEC1)
    assert rep.changed["monthly_reset"] == 2
    assert caps(session, o.members) == [200_000, 900_000, 200_000]  # pinned untouched
    u = session.get(User, o.members[0].id)
    u.max_tokens = 800_000
    session.add(u)
    session.commit()
    before = snapshot(engine)
    _jobs(session, DEC1)
    _jobs(session, DEC1 + timedelta(days=14))
    assert snapshot(engine) == before  # same period: nothing
    _jobs(session, datetime(2027, 1, 1, 3, tzinfo=UTC))
    assert caps(session, o.members)[0] == 200_000


def test_auto_increase_percent_with_cooldown_and_near_ceiling_bump(session, engine):
    o = build_org(session, [1_000_000, 4_000_000, 1_000_000], purchased=20_000_000)
    set_policy(session, o.id, preset="standard", floor=500_000, ceiling=5_000_000, auto_increase=True,
               increase_method="percent_current", increase_amount=25, trigger_pct=80.0, cooldown_minutes=60,
               near_ceiling_bump_pct=50)
    add_usage(session, o.id, o.members[0].id, 850_000, NOV20 - timedelta(hours=1))  # 85% ≥ 80%
    add_usage(session, o.id, o.members[1].id, 3_500_000, NOV20 - timedelta(hours=1))  # near ceiling
    add_usage(session, o.id, o.members[2].id, 700_000, NOV20 - timedelta(hours=1))  # 70%: below trigger
    rep = _jobs(session, NOV20)
    assert rep.changed["auto_increase"] == 2
    assert caps(session, o.members) == [1_250_000, 5_000_000, 1_000_000]  # +25%; +50% capped at the ceiling
    add_usage(session, o.id, o.members[0].id, 200_000, NOV20)  # 1.05M of 1.25M = 84%
    before = snapshot(engine)
    _jobs(session, NOV20 + timedelta(minutes=30))  # within the cooldown
    assert snapshot(engine) == before
    _jobs(session, NOV20 + timedelta(minutes=61))
    assert caps(session, o.members)[0] == 1_562_500


def test_auto_increase_stopped_by_the_ceiling_raises_one_request(session):
    o = build_org(session, [1_000_000], purchased=20_000_000)
    set_policy(session, o.id, preset="conservative", floor=200_000, ceiling=1_000_000, auto_increase=True,
               increase_method="percent_current", increase_amount=25, trigger_pct=90.0, cooldown_minutes=240)
    add_usage(session, o.id, o.members[0].id, 950_000, NOV20 - timedelta(hours=1))
    _jobs(session, NOV20)
    _jobs(session, NOV20 + timedelta(hours=5))  # after the cooldown: still one pending request
    reqs = session.exec(select(TokenRequest)).all()
    assert [(r.source, r.amount, r.status) for r in reqs] == [("auto-increase exhausted", 250_000, "pending")]
    assert caps(session, o.members) == [1_000_000]


def test_auto_increase_flat_and_the_pool_with_its_reserve(session):
    o = build_org(session, [1_000_000, 600_000], purchased=2_000_000)
    set_policy(session, o.id, preset="aggressive", floor=200_000, ceiling=None, auto_increase=True,
               increase_method="flat", increase_amount=500_000, trigger_pct=75.0, cooldown_minutes=30,
               reserve_pct=10)
    add_usage(session, o.id, o.members[0].id, 800_000, NOV20 - timedelta(hours=1))
    add_usage(session, o.id, o.members[1].id, 500_000, NOV20 - timedelta(hours=1))
    _jobs(session, NOV20)
    # pool 2M - 10% reserve - 1.6M assigned = 200K available: the first gets 200K, the second a request
    assert caps(session, o.members) == [1_200_000, 600_000]
    reqs = session.exec(select(TokenRequest)).all()
    assert [(r.user_id, r.source, r.amount) for r in reqs] == [(o.members[1].id, "auto-increase exhausted", 500_000)]


def test_dynamic_tiered_increase_of_the_headroom(session):
    o = build_org(session, [1_000_000, 1_000_000, 1_000_000], purchased=10_000_000)
    set_policy(session, o.id, preset="dynamic", floor=500_000, ceiling=None, auto_increase=True,
               increase_method="tiered", increase_amount=25, trigger_pct=75.0, cooldown_minutes=60)
    add_usage(session, o.id, o.members[0].id, 760_000, NOV20 - timedelta(hours=1))  # tier 75%: ×1
    add_usage(session, o.id, o.members[1].id, 950_000, NOV20 - timedelta(hours=1))  # tier 90%: ×2
    add_usage(session, o.id, o.members[2].id, 999_000, NOV20 - timedelta(hours=1))  # tier 99.9%: ×3
    _jobs(session, NOV20)
    # headroom = unassigned pool: 7,000,000 → +25% = 1,750,000; then 5,250,000 → +50% = 2,625,000;
    # then 2,625,000 → +75% = 1,968,750
    assert caps(session, o.members) == [2_750_000, 3_625_000, 2_968_750]


def test_reclamation_keeps_the_buffer_once_per_period(session, engine):
    o = build_org(session, [1_000_000, 1_000_000, 1_000_000])
    set_policy(session, o.id, floor=200_000, reclamation=True, reclaim_schedule="monthly", reclaim_buffer_pct=20)
    add_usage(session, o.id, o.members[0].id, 100_000, datetime(2026, 11, 10, tzinfo=UTC))
    add_usage(session, o.id, o.members[1].id, 500_000, datetime(2026, 11, 10, tzinfo=UTC))
    add_usage(session, o.id, o.members[2].id, 900_000, datetime(2026, 11, 10, tzinfo=UTC))
    rep = _jobs(session, DEC1)
    assert rep.changed["reclamation"] == 2
    assert caps(session, o.members) == [200_000, 600_000, 1_000_000]  # floor; 500K+20%; never raised
    before = snapshot(engine)
    _jobs(session, DEC1 + timedelta(hours=6))
    assert snapshot(engine) == before


def test_temporary_grant_and_timed_ban_expire_once(session, engine):
    o = build_org(session, [300_000, 300_000])
    r = tr.submit_request(session, actor=o.member_actor(0), kind="tokens", amount=200_000, now=NOV20)
    tr.approve(session, actor=o.actor(), request_id=r.id, expires_on="2026-12-01", now=NOV20)
    ban_end = NOV20 + timedelta(days=2)
    u = session.get(User, o.members[1].id)
    u.banned, u.ban_reason, u.banned_until = True, "spam", ban_end
    session.add(u)
    session.commit()
    _jobs(session, NOV20 + timedelta(days=1))
    assert caps(session, o.members) == [500_000, 300_000]
    assert session.get(User, o.members[1].id).banned is True
    rep = _jobs(session, DEC1)
    assert (rep.changed["grant_expiry"], rep.changed["ban_expiry"]) == (1, 1)
    assert caps(session, o.members) == [300_000, 300_000]
    assert session.get(User, o.members[1].id).banned is False
    before = snapshot(engine)
    _jobs(session, DEC1 + timedelta(days=3))
    assert snapshot(engine) == before


def test_scheduled_distribution_runs_once_per_period(session):
    o = build_org(session, [0, 0])
    set_policy(session, o.id, schedule="monthly", scheduled_strategy="equal")
    _jobs(session, NOV20)
    assert session.exec(select(DistributionRun)).all() == []
    _jobs(session, DEC1)
    _jobs(session, DEC1 + timedelta(hours=1))
    runs = session.exec(select(DistributionRun)).all()
    assert len(runs) == 1 and runs[0].params["actor_email"] == "system"
    assert caps(session, o.members) == [1_000_000, 1_000_000]


def test_cli_run_jobs(session, engine, monkeypatch, capsys):
    o = build_org(session, [700_000])
    set_policy(session, o.id, floor=200_000, monthly_reset=True)
    session.close()
    monkeypatch.setenv("REFLEX_DB_URL", engine.url.render_as_string(hide_password=False))
    from services.core.db import get_engine
    get_engine.cache_clear()
    try:
        assert cli.main(["run-jobs", "--now", "2026-12-01T00:05:00Z"]) == 0
        assert "monthly_reset: 1" in capsys.readouterr().out
        assert cli.main(["run-jobs", "--now", "2026-12-01T00:06:00"]) == 0
        assert "monthly_reset: 0" in capsys.readouterr().out
        assert cli.main(["run-jobs", "--now", "soon"]) == 1
    finally:
        get_engine.cache_clear()
    assert caps(session, o.members) == [200_000]
    assert system_actor().email == "system"
