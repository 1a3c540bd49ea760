"""The member page's projected run-out date: this month's average daily pace carried forward."""

from datetime import UTC, date, datetime

import pytest

from services.core.actor import system_actor
from services.core.errors import Forbidden
from services.tokens.member_overview import overview, projected_run_out

NOW = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)  # 10 days into a 30-day month


def test_pace_carried_forward():
    # 100k used in 10 days = 10k a day; 150k left → 15 more days → Nov 26
    assert projected_run_out(250_000, 100_000, NOW) == (date(2026, 11, 26), "")
    # half a day later at the same total the pace is a little slower
    assert projected_run_out(250_000, 100_000, datetime(2026, 11, 11, 12, tzinfo=UTC))[0] == date(2026, 11, 27)


def test_no_use_used_up_and_after_the_reset():
    assert projected_run_out(250_000, 0, NOW) == (None, "No use yet this month")
    assert projected_run_out(250_000, 250_000, NOW) == (NOW.date(), "Allocation used up")
    assert projected_run_out(0, 5, NOW) == (NOW.date(), "Allocation used up")
    # 10k in 10 days: 240 more days needed, the month resets first
    assert projected_run_out(250_000, 10_000, NOW) == (None, "Not before the reset")


def test_the_first_hour_of_a_month_does_not_project_wildly():
    start = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)  # 1 minute in, 1,000 used: counted as one hour's pace
    # 99,000 left at 1,000 an hour = 99 hours → Dec 5 (at the real per-minute pace it would say Dec 1)
    assert projected_run_out(100_000, 1_000, start) == (date(2026, 12, 5), "")


def test_an_actor_without_a_user_has_no_budget_of_its_own(session):
    with pytest.raises(Forbidden):
        overview(session, actor=system_actor())
