"""Distribute now: each strategy's numbers on small hand-checked orgs, reserve, floors/ceilings/overrides/pins/
exclusions, preview vs execute, history, the fingerprint check, scope and bad input."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, DistributionRun
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.tokens.distribution import runs
from tests.conftest import snapshot
from tests.services.dist_helpers import add_usage, build_org, caps, set_policy

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _run(session, o, strategy, **kw):
    run = runs.execute(session, actor=o.actor(), kind="tokens", strategy=strategy, now=NOW, **kw)
    session.commit()
    return run


def test_equal_split_of_the_pool(session):
    o = build_org(session, [0, 0, 0])
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    assert [r.proposed for r in plan.rows] == [666_666] * 3
    assert plan.proposed_total == 1_999_998 <= plan.distributable == 2_000_000
    _run(session, o, "equal")
    assert caps(session, o.members) == [666_666] * 3


def test_equal_split_respects_ceilings_and_overrides(session):
    o = build_org(session, [0, 0, 0])
    set_policy(session, o.id, floor=200_000, ceiling=1_000_000)
    o.members[0].ceiling_override = 300_000
    session.add(o.members[0])
    session.commit()
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    assert [r.proposed for r in plan.rows] == [300_000, 850_000, 850_000]
    assert "at the ceiling" in plan.rows[0].warnings


def test_floors_are_hard_and_a_shortfall_is_reported(session):
    o = build_org(session, [0, 0, 0])
    o.members[0].floor_override = 1_500_000
    session.add(o.members[0])
    session.commit()
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    assert [r.proposed for r in plan.rows] == [1_500_000, 250_000, 250_000]
    o.members[1].floor_override = 1_000_000
    session.add(o.members[1])
    session.commit()
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    assert [r.proposed for r in plan.rows] == [1_500_000, 1_000_000, 200_000]
    assert plan.overbooked_by == 700_000
    assert any("floors alone need 2,700,000" in w for w in plan.warnings)
    assert any("Overbooked: 700,000" in w for w in plan.warnings)


def test_reserve_pins_and_exclusions_are_kept_back(session):
    o = build_org(session, [400_000, 0, 0, 100_000])
    set_policy(session, o.id, reserve_pct=10)
    o.members[0].pinned = True
    o.members[3].excluded_from_automation = True
    session.add_all(o.members)
    session.commit()
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    # 2,000,000 - 10% reserve - 400,000 pinned - 100,000 excluded = 1,300,000 for two people
    assert plan.distributable == 1_300_000
    assert [(r.user_id, r.proposed) for r in plan.rows] == [(o.members[1].id, 650_000), (o.members[2].id, 650_000)]
    assert (plan.pinned_count, plan.excluded_count) == (2, 1)  # the org's admin is pinned too
    _run(session, o, "equal")
    assert caps(session, o.members) == [400_000, 650_000, 650_000, 100_000]


def test_usage_based_split_over_the_lookback_window(session):
    o = build_org(session, [0, 0, 0])
    add_usage(session, o.id, o.members[0].id, 300, NOW - timedelta(days=2))
    add_usage(session, o.id, o.members[1].id, 100, NOW - timedelta(days=29))
    add_usage(session, o.id, o.members[2].id, 10**6, NOW - timedelta(days=40))  # outside 30 days
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="usage", now=NOW)
    assert [r.proposed for r in plan.rows] == [1_350_000, 450_000, 200_000]
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="usage", lookback_days=60, now=NOW)
    assert plan.proposed_total <= 2_000_000
    assert plan.rows[2].proposed > plan.rows[0].proposed  # the old heavy use counts with 60 days


def test_usage_based_without_usage_falls_back_to_equal(session):
    o = build_org(session, [0, 0])
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="usage", now=NOW)
    assert [r.proposed for r in plan.rows] == [1_000_000, 1_000_000]
    assert any("split equally" in w for w in plan.warnings)


def test_incremental_adds_only_the_unallocated_rest(session):
    o = build_org(session, [300_000, 500_000, 1_000_000])
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="incremental", now=NOW)
    assert [r.proposed for r in plan.rows] == [366_666, 566_666, 1_066_666]
    set_policy(session, o.id, floor=200_000, ceiling=1_000_000)
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="incremental", now=NOW)
    assert [r.proposed for r in plan.rows] == [400_000, 600_000, 1_000_000]
    assert all(r.change >= 0 for r in plan.rows)


def test_preview_changes_nothing_and_execute_keeps_history(session, engine):
    o = build_org(session, [100_000, 900_000])
    session.commit()
    before = snapshot(engine)
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    session.rollback()
    assert snapshot(engine) == before
    run = _run(session, o, "equal", expected=plan.fingerprint)
    assert caps(session, o.members) == [1_000_000, 1_000_000]
    listing, total = runs.list_runs(session, actor=o.actor())
    assert total == 1 and listing[0]["id"] == run.id and listing[0]["changed"] == 2
    assert listing[0]["actor"] == o.admin.email
    detail = runs.run_detail(session, actor=o.actor(), run_id=run.id)
    assert [(c["email"], c["before"], c["after"]) for c in detail["changes"]] == [
        (o.members[0].email, 100_000, 1_000_000), (o.members[1].email, 900_000, 1_000_000)]
    ev = session.exec(select(AuditEvent).where(AuditEvent.action == "distribution.execute")).one()
    assert ev.after["total"] == 2_000_000 and ev.target_id == str(run.id)


def test_execute_refuses_a_stale_preview(session, engine):
    o = build_org(session, [100_000, 900_000])
    plan = runs.preview(session, actor=o.actor(), kind="tokens", strategy="equal", now=NOW)
    o.members[0].max_tokens = 150_000
    session.add(o.members[0])
    session.commit()
    before = snapshot(engine)
    with pytest.raises(Conflict, match="Preview again"):
        runs.execute(session, actor=o.actor(), kind="tokens", strategy="equal", expected=plan.fingerprint, now=NOW)
    session.rollback()
    assert snapshot(engine) == before


def test_scope_roles_and_bad_input(session, world):
    o = build_org(session, [0, 0])
    member = o.member_actor(0)
    with pytest.raises(Forbidden):
        runs.preview(session, actor=member, kind="tokens", strategy="equal")
    with pytest.raises(Forbidden):
        runs.preview(session, actor=world.actor(world.finance), kind="tokens", strategy="equal")
    for bad in ({"kind": "gold"}, {"strategy": "random"}, {"strategy": None}, {"lookback_days": 0},
                {"lookback_days": "30"}, {"lookback_days": 10**9}):
        args = {"kind": "tokens", "strategy": "equal", **bad}
        with pytest.raises(Invalid):
            runs.preview(session, actor=o.actor(), **args)
    run = _run(session, o, "equal")
    with pytest.raises(NotFound):  # another org's run answers like a missing one
        runs.run_detail(session, actor=world.actor(world.admin), run_id=run.id)
    for bad in (None, "1", True, -1, 10**30):
        with pytest.raises(NotFound):
            runs.run_detail(session, actor=o.actor(), run_id=bad)
    assert len(session.exec(select(DistributionRun)).all()) == 1
