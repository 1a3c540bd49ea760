"""Policies: every preset's numbers, editing a preset field makes it Custom, per-user overrides and exclusions,
scope and bad input."""

import pytest
from sqlmodel import select

from models import AuditEvent, DistributionPolicy, User
from services.core.errors import Forbidden, Invalid, NotFound
from services.tokens.distribution import policy
from services.tokens.distribution.presets import PRESETS
from tests.conftest import snapshot

EXPECTED = {  # SPEC.md "Token Distribution": floor, ceiling, trigger, cooldown (min), method, amount, bump
    "conservative": (200_000, 1_000_000, 90.0, 240, "percent_current", 25, None),
    "standard": (500_000, 5_000_000, 80.0, 60, "percent_current", 25, 50),
    "aggressive": (1_000_000, None, 75.0, 30, "flat", 500_000, None),
    "dynamic": (500_000, None, 75.0, 60, "tiered", 25, None),
}


def _fields(d) -> tuple:
    return (d["floor"], d["ceiling"], d["trigger_pct"], d["cooldown_minutes"], d["increase_method"],
            d["increase_amount"], d["near_ceiling_bump_pct"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_preset_fills_the_spec_values(world, session, name):
    admin = world.actor(world.admin)
    r = policy.apply_preset(session, actor=admin, kind="tokens", preset=name)
    session.commit()
    assert r.value["preset"] == name and r.value["auto_increase"] is True
    assert _fields(policy.get_policy(session, actor=admin, kind="tokens")) == EXPECTED[name]
    assert _fields({**PRESETS[name]}) == EXPECTED[name]
    # the training kind has its own policy, untouched
    assert policy.get_policy(session, actor=admin, kind="training")["preset"] == "custom"


def test_editing_a_preset_field_makes_it_custom_but_other_fields_do_not(world, session):
    admin = world.actor(world.admin)
    policy.apply_preset(session, actor=admin, kind="tokens", preset="standard")
    r = policy.update_policy(session, actor=admin, kind="tokens", changes={"reserve_pct": 10, "monthly_reset": True})
    assert r.value["preset"] == "standard"
    r = policy.update_policy(session, actor=admin, kind="tokens", changes={"trigger_pct": "85"})
    session.commit()
    assert r.value["preset"] == "custom" and r.value["trigger_pct"] == 85.0
    row = session.exec(select(DistributionPolicy).where(DistributionPolicy.org_id == world.org.id)).one()
    assert (row.preset, row.floor, row.reserve_pct, row.monthly_reset) == ("custom", 500_000, 10, True)
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("policy.%")))]
    assert actions == ["policy.preset", "policy.update", "policy.update"]


def test_a_policy_warns_about_users_below_a_new_floor(world, session):
    r = policy.apply_preset(session, actor=world.actor(world.admin), kind="tokens", preset="aggressive")
    assert any("below the new floor" in w for w in r.warnings)


@pytest.mark.parametrize("changes", [
    {"floor": -1}, {"floor": "lots"}, {"ceiling": 10}, {"trigger_pct": 0}, {"trigger_pct": 101},
    {"trigger_pct": "nan"}, {"cooldown_minutes": -5}, {"cooldown_minutes": 10**9}, {"increase_method": "double"},
    {"increase_amount": 0}, {"increase_amount": 5000}, {"reserve_pct": 95}, {"reclaim_buffer_pct": 101},
    {"schedule": "hourly"}, {"scheduled_strategy": "lottery"}, {"lookback_days": 0}, {"auto_approve": "yes"},
    {"auto_approve_max": 10**30}, {"org_id": 2}, {"preset": "custom"}, {}, [], "floor",
    {"increase_method": "flat"},  # switching to flat needs a token amount too
])
def test_bad_policy_input_changes_nothing(world, session, engine, changes):
    admin = world.actor(world.admin)
    policy.apply_preset(session, actor=admin, kind="tokens", preset="conservative")
    session.commit()
    before = snapshot(engine)
    with pytest.raises(Invalid):
        policy.update_policy(session, actor=admin, kind="tokens", changes=changes)
    session.rollback()
    assert snapshot(engine) == before


def test_roles_and_scope(world, session):
    for who in (world.finance, world.alice):
        with pytest.raises(Forbidden):
            policy.apply_preset(session, actor=world.actor(who), kind="tokens", preset="standard")
    with pytest.raises(Invalid):
        policy.apply_preset(session, actor=world.actor(world.admin), kind="tokens", preset="reckless")
    with pytest.raises(Invalid):
        policy.get_policy(session, actor=world.actor(world.admin), kind="gold")
    # another org's user is answered like a missing one
    with pytest.raises(NotFound):
        policy.set_override(session, actor=world.actor(world.admin), user_id=world.carol.id, kind="tokens",
                            floor=1)
    with pytest.raises(NotFound):
        policy.set_excluded(session, actor=world.actor(world.admin), user_id=world.carol.id, excluded=True)


def test_overrides_set_list_clear_and_exclusions(world, session):
    admin = world.actor(world.admin)
    r = policy.set_override(session, actor=admin, user_id=world.alice.id, kind="tokens", floor="100000",
                            ceiling=400_000)
    assert any("above the new ceiling" in w for w in r.warnings)
    policy.set_override(session, actor=admin, user_id=world.bob.id, kind="training", ceiling=50)
    policy.set_excluded(session, actor=admin, user_id=world.bob.id, excluded=True)
    session.commit()
    listing = policy.special_users(session, actor=admin)
    assert [u["email"] for u in listing["overrides"]] == ["alice@a.test", "bob@a.test"]
    assert listing["overrides"][0]["floor_override"] == 100_000
    assert listing["overrides"][0]["ceiling_override"] == 400_000
    assert listing["overrides"][1]["training_ceiling_override"] == 50
    assert [u["email"] for u in listing["excluded"]] == ["bob@a.test"] and listing["excluded_count"] == 1
    policy.clear_override(session, actor=admin, user_id=world.alice.id, kind="tokens")
    session.commit()
    alice = session.get(User, world.alice.id)
    assert (alice.floor_override, alice.ceiling_override) == (None, None)
    for bad in ({"floor": -1}, {"floor": 10, "ceiling": 5}, {"ceiling": "x"}):
        with pytest.raises(Invalid):
            policy.set_override(session, actor=admin, user_id=world.alice.id, kind="tokens", **bad)
    with pytest.raises(Invalid):
        policy.set_excluded(session, actor=admin, user_id=world.alice.id, excluded="true")
