"""remaining_budget: may a user spend now, why not, and how much is left (user cap, org pool, org monthly cap).

The clock is driven with `now=`; usage is recorded through report_usage (gpt-4o, prompt tokens only, so
billed tokens = the amount given).
"""

from datetime import UTC, datetime, timedelta, timezone
from itertools import count

import pytest
from sqlmodel import select

from models import Purchase, User
from models.dto import Budget
from services.core.actor import system_actor
from services.core.errors import Forbidden, Invalid, NotFound
from services.gateway.reports import report_usage
from services.orgs import catalog, organizations
from services.tokens.budget import remaining_budget
from services.usage.ledger import gateway_actor

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
POOL = 4_000_000  # world: Org A bought 4M tokens and 2M training tokens
TRAINING_POOL = 2_000_000
ALICE_CAP = 500_000
BOB_CAP = 300_000
_keys = count()


@pytest.fixture
def w(world, session):
    """The conftest world on a fixed calendar: Org A's purchase runs 2024-01-10 → 2025-01-10."""
    catalog.ensure_default_models(session)
    purchase = session.exec(select(Purchase).where(Purchase.org_id == world.org.id)).one()
    purchase.purchased_at = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    purchase.expires_at = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
    session.add(purchase)
    session.commit()
    assert (world.alice.max_tokens, world.bob.max_tokens) == (ALICE_CAP, BOB_CAP)
    return world


@pytest.fixture
def use(w, session):
    """use(user, billed, at, kind='tokens'): record usage through the user's org gateway."""

    def _use(user, billed: int, at: datetime, kind: str = "tokens"):
        out = report_usage(session, actor=gateway_actor(user.org_id), now=at + timedelta(seconds=1), events=[
            {"idempotency_key": f"use-{next(_keys)}", "user": user.id, "model": "gpt-4o", "prompt_tokens": billed,
             "completion_tokens": 0, "kind": kind, "occurred_at": at}])
        session.commit()
        assert out[0].billed_tokens == billed and not out[0].duplicate

    return _use


@pytest.fixture
def ask(w, session):
    """ask(user, actor=None, kind='tokens', now=NOW): the user's budget (asked by Org A's gateway by default)."""

    def _ask(user, *, actor=None, kind="tokens", now=NOW) -> Budget:
        try:
            return remaining_budget(session, actor=actor or gateway_actor(w.org.id), user_id=user.id, kind=kind,
                                    now=now)
        finally:
            session.commit()

    return _ask


def _set(session, user, **fields):
    row = session.get(User, user.id)
    for k, v in fields.items():
        setattr(row, k, v)
    session.add(row)
    session.commit()


def refused(reason, *, user_remaining, org_remaining, cap, used) -> Budget:
    return Budget(allowed=False, reason=reason, user_remaining=user_remaining, org_remaining=org_remaining,
                  remaining=0, cap=cap, used_this_month=used)


def ok(*, remaining, user_remaining, org_remaining, cap, used) -> Budget:
    return Budget(allowed=True, reason="ok", user_remaining=user_remaining, org_remaining=org_remaining,
                  remaining=remaining, cap=cap, used_this_month=used)


def test_ok_with_remaining_numbers(w, session, use, ask):
    assert ask(w.alice) == ok(remaining=ALICE_CAP, user_remaining=ALICE_CAP, org_remaining=POOL, cap=ALICE_CAP,
                              used=0)

    use(w.alice, 120_000, datetime(2024, 6, 2, 8, tzinfo=UTC))
    assert ask(w.alice) == ok(remaining=380_000, user_remaining=380_000, org_remaining=POOL - 120_000,
                              cap=ALICE_CAP, used=120_000)

    # When the pool has less left than the user, the pool limits what may be spent.
    use(w.bob, 3_700_000, datetime(2024, 3, 10, tzinfo=UTC))
    assert ask(w.alice) == ok(remaining=180_000, user_remaining=380_000, org_remaining=180_000, cap=ALICE_CAP,
                              used=120_000)

    # Training tokens have their own cap and pool.
    _set(session, w.alice, max_training_tokens=100_000)
    use(w.alice, 30_000, datetime(2024, 6, 3, tzinfo=UTC), kind="training")
    assert ask(w.alice, kind="training") == ok(remaining=70_000, user_remaining=70_000,
                                               org_remaining=TRAINING_POOL - 30_000, cap=100_000, used=30_000)


def test_banned(w, session, ask):
    _set(session, w.alice, banned=True, banned_until=None)
    assert ask(w.alice) == refused("banned", user_remaining=ALICE_CAP, org_remaining=POOL, cap=ALICE_CAP, used=0)

    _set(session, w.alice, banned_until=NOW - timedelta(seconds=1))  # the ban has ended
    assert ask(w.alice).reason == "ok"

    _set(session, w.alice, banned_until=NOW + timedelta(days=1))
    assert ask(w.alice).reason == "banned"
    assert ask(w.alice, now=NOW + timedelta(days=1, seconds=1)).reason == "ok"  # … and lifts itself

    _set(session, w.alice, banned=False, banned_until=NOW + timedelta(days=1))  # an end date alone is no ban
    assert ask(w.alice).reason == "ok"

    _set(session, w.alice, banned=True, banned_until=None, paid=False)  # banned wins over not paid
    assert ask(w.alice).reason == "banned"


def test_not_paid(w, session, ask):
    _set(session, w.alice, paid=False)
    assert ask(w.alice) == refused("not_paid", user_remaining=ALICE_CAP, org_remaining=POOL, cap=ALICE_CAP, used=0)
    _set(session, w.alice, paid=True)
    assert ask(w.alice).allowed is True


def test_monthly_cap_reached(w, use, ask):
    june = datetime(2024, 6, 1, tzinfo=UTC)
    use(w.alice, 300_000, june + timedelta(days=1))
    use(w.alice, 199_999, june + timedelta(days=2))
    assert ask(w.alice) == ok(remaining=1, user_remaining=1, org_remaining=POOL - 499_999, cap=ALICE_CAP,
                              used=499_999)

    use(w.alice, 1, june + timedelta(days=3))  # usage equal to the cap
    assert ask(w.alice) == refused("monthly_cap_reached", user_remaining=0, org_remaining=POOL - ALICE_CAP,
                                   cap=ALICE_CAP, used=ALICE_CAP)

    use(w.alice, 50_000, june + timedelta(days=4))  # the gateway overshot: nothing goes negative
    assert ask(w.alice) == refused("monthly_cap_reached", user_remaining=0, org_remaining=POOL - 550_000,
                                   cap=ALICE_CAP, used=550_000)

    # Other users are not affected.
    assert ask(w.bob) == ok(remaining=BOB_CAP, user_remaining=BOB_CAP, org_remaining=POOL - 550_000, cap=BOB_CAP,
                            used=0)


def test_org_pool_exhausted(w, session, use, ask):
    sysa = system_actor(w.org.id)
    # An expired purchase adds nothing, and usage before the earliest unexpired purchase does not count.
    organizations.record_purchase(session, actor=sysa, org_id=w.org.id, tokens=2_000_000,
                         purchased_at=datetime(2023, 1, 1, tzinfo=UTC), expires_at=datetime(2023, 12, 31, tzinfo=UTC))
    session.commit()
    use(w.bob, 1_000_000, datetime(2023, 6, 1, tzinfo=UTC))
    use(w.admin, 1_000_000, datetime(2024, 1, 5, tzinfo=UTC))
    use(w.carol, 5_000_000, datetime(2024, 6, 1, tzinfo=UTC))  # another org's usage
    assert ask(w.alice).org_remaining == POOL

    use(w.bob, 3_000_000, datetime(2024, 3, 10, tzinfo=UTC))
    use(w.admin, 999_999, datetime(2024, 5, 20, tzinfo=UTC))
    assert ask(w.alice) == ok(remaining=1, user_remaining=ALICE_CAP, org_remaining=1, cap=ALICE_CAP, used=0)

    use(w.alice, 1, datetime(2024, 6, 14, 10, tzinfo=UTC))  # the pool is used up
    assert ask(w.alice) == refused("org_pool_exhausted", user_remaining=ALICE_CAP - 1, org_remaining=0,
                                   cap=ALICE_CAP, used=1)
    assert ask(w.bob).reason == "org_pool_exhausted"

    # A new purchase refills the pool.
    organizations.record_purchase(session, actor=sysa, org_id=w.org.id, tokens=2_000_000, purchased_at=NOW,
                         expires_at=datetime(2025, 6, 15, tzinfo=UTC))
    session.commit()
    assert ask(w.alice) == ok(remaining=ALICE_CAP - 1, user_remaining=ALICE_CAP - 1, org_remaining=2_000_000,
                              cap=ALICE_CAP, used=1)

    # Once the first purchase expires, only usage since the remaining purchase began counts.
    later = datetime(2025, 1, 11, tzinfo=UTC)
    use(w.alice, 500, datetime(2025, 1, 5, tzinfo=UTC))
    assert ask(w.alice, now=later) == ok(remaining=ALICE_CAP - 500, user_remaining=ALICE_CAP - 500,
                                         org_remaining=2_000_000 - 500, cap=ALICE_CAP, used=500)


def test_org_monthly_cap(w, session, use, ask):
    organizations.update_org(session, actor=system_actor(), org_id=w.org.id, monthly_token_cap=1_000_000)
    session.commit()
    use(w.bob, 900_000, datetime(2024, 5, 20, tzinfo=UTC))  # last month: not part of this month's cap
    assert ask(w.alice) == ok(remaining=ALICE_CAP, user_remaining=ALICE_CAP, org_remaining=1_000_000,
                              cap=ALICE_CAP, used=0)

    use(w.bob, 250_000, datetime(2024, 6, 3, tzinfo=UTC))
    use(w.admin, 350_000, datetime(2024, 6, 4, tzinfo=UTC))
    assert ask(w.alice) == ok(remaining=400_000, user_remaining=ALICE_CAP, org_remaining=400_000, cap=ALICE_CAP,
                              used=0)

    use(w.finance, 400_000, datetime(2024, 6, 5, tzinfo=UTC))  # the org used its monthly cap
    b = ask(w.alice)
    assert (b.allowed, b.remaining, b.org_remaining, b.user_remaining) == (False, 0, 0, ALICE_CAP)
    assert b.reason not in ("ok", "monthly_cap_reached")

    # The org's monthly cap resets on the 1st; the pool (4M − 1.9M used) is larger than the cap.
    july = ask(w.alice, now=datetime(2024, 7, 1, tzinfo=UTC))
    assert july == ok(remaining=ALICE_CAP, user_remaining=ALICE_CAP, org_remaining=1_000_000, cap=ALICE_CAP, used=0)

    # The training cap is separate (none set): only the training pool limits training.
    _set(session, w.alice, max_training_tokens=100_000)
    assert ask(w.alice, kind="training").org_remaining == TRAINING_POOL


def test_org_monthly_cap_has_its_own_reason(w, session, use, ask):
    organizations.update_org(session, actor=system_actor(), org_id=w.org.id, monthly_token_cap=1_000_000)
    session.commit()
    use(w.bob, 1_000_000, datetime(2024, 6, 3, tzinfo=UTC))
    b = ask(w.alice)
    assert b.org_remaining == 0 and b.allowed is False
    assert b.reason == "org_monthly_cap_reached"  # the pool still holds 3M tokens


def test_used_this_month_resets_on_the_first(w, use, ask):
    use(w.alice, ALICE_CAP, datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=UTC))
    last_moment_of_may = datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert ask(w.alice, now=last_moment_of_may).reason == "monthly_cap_reached"
    assert ask(w.alice, now=last_moment_of_may).used_this_month == ALICE_CAP

    first_of_june = datetime(2024, 6, 1, tzinfo=UTC)
    assert ask(w.alice, now=first_of_june) == ok(remaining=ALICE_CAP, user_remaining=ALICE_CAP,
                                                 org_remaining=POOL - ALICE_CAP, cap=ALICE_CAP, used=0)

    use(w.alice, 7, first_of_june)
    assert ask(w.alice, now=first_of_june + timedelta(seconds=2)).used_this_month == 7

    # The year boundary too.
    use(w.alice, ALICE_CAP, datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert ask(w.alice, now=datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)).reason == "monthly_cap_reached"
    assert ask(w.alice, now=datetime(2025, 1, 1, tzinfo=UTC)).used_this_month == 0


def test_month_of_now_is_taken_in_utc(w, use, ask):
    use(w.alice, ALICE_CAP, datetime(2024, 5, 31, 20, 0, tzinfo=UTC))
    ist = timezone(timedelta(hours=5, minutes=30))
    still_may = datetime(2024, 6, 1, 3, 0, tzinfo=ist)  # = 2024-05-31 21:30 UTC
    b = ask(w.alice, now=still_may)
    assert (b.reason, b.used_this_month) == ("monthly_cap_reached", ALICE_CAP)


def test_who_may_ask(w, ask):
    # Org A's admin, finance and gateway, and alice herself.
    for actor in (w.actor(w.admin), w.actor(w.finance), gateway_actor(w.org.id), w.actor(w.alice)):
        assert ask(w.alice, actor=actor).reason == "ok"

    # Another org's admin (or gateway) is told the user does not exist, exactly as for a missing user.
    for actor in (w.actor(w.other_admin), gateway_actor(w.other_org.id)):
        with pytest.raises(NotFound) as other_org:
            ask(w.alice, actor=actor)
        with pytest.raises(NotFound) as missing:
            ask(User(id=987_654), actor=actor)
        assert other_org.value.message == missing.value.message == "User not found."

    # A member may ask only about themself.
    with pytest.raises(Forbidden):
        ask(w.alice, actor=w.actor(w.bob))
    with pytest.raises(Forbidden):
        ask(w.alice, actor=w.actor(w.carol))
    assert ask(w.bob, actor=w.actor(w.bob)) == ok(remaining=BOB_CAP, user_remaining=BOB_CAP, org_remaining=POOL,
                                                  cap=BOB_CAP, used=0)


def test_kind_is_validated(w, ask):
    with pytest.raises(Invalid, match="Kind must be"):
        ask(w.alice, kind="embedding")


def test_the_member_page_and_the_gateway_read_one_rule_open_reservations_included(w, session, use, engine):
    """What is left for a user is what the gateway decides with: an open reservation is taken out of it (and
    shown as held), for the member page (remaining_budget, member_overview) and GET /balance alike."""
    from services.gateway import balances
    from services.tokens import member_overview
    from tests.services.gateway_helpers import authorize

    now = NOW
    held = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=120_000, reserve=True, now=now)
    assert held.allowed and held.reservation_id
    use(w.alice, 30_000, now - timedelta(seconds=5))
    mine = remaining_budget(session, actor=w.actor(w.alice), user_id=w.alice.id, now=now)
    assert (mine.held, mine.user_remaining) == (120_000, ALICE_CAP - 30_000 - 120_000)
    assert mine.left == mine.remaining == ALICE_CAP - 150_000 and mine.reason == "ok"
    api = balances.balance(session, actor=gateway_actor(w.org.id), user_id=w.alice.id, now=now)
    assert (api["remaining"], api["reserved"]) == (mine.remaining, mine.held)
    page = member_overview.overview(session, actor=w.actor(w.alice), now=now)["tokens"]
    assert (page.remaining, page.held) == (mine.left, 120_000)
    session.commit()
    # An ask for more than is left after the hold is refused with the reason the member page shows for zero left.
    big = authorize(engine, w.org.id, user=w.alice.id, model="gpt-4o", tokens=ALICE_CAP - 150_000 + 1, now=now)
    assert (big.allowed, big.reason) == (False, "monthly_cap_reached")
