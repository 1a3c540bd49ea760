"""The User Management table on the server: scope, search (all words), filters, sort whitelist, paging, usage
columns from the monthly rollup, and bad input."""

from datetime import UTC, datetime, time, timedelta

import pytest

from models import month_start, utcnow
from services.core.errors import Forbidden, Invalid, NotFound
from services.gateway import reports
from services.orgs.catalog import ensure_default_models
from services.usage import ledger
from services.users import accounts
from services.users.user_table import list_users


def _emails(page):
    return [r.email for r in page.rows]


def test_admin_sees_own_org_only_and_counts(world, session):
    page = list_users(session, actor=world.actor(world.admin))
    assert _emails(page) == ["admin@a.test", "finance@a.test", "alice@a.test", "bob@a.test"]
    assert page.total == page.org_users == 4 and page.pages == 1
    other = list_users(session, actor=world.actor(world.other_admin))
    assert set(_emails(other)) == {"admin@b.test", "carol@b.test"}


def test_super_admin_needs_an_org_and_finance_members_are_refused(world, session):
    with pytest.raises(Invalid, match="Choose an organization"):
        list_users(session, actor=world.actor(world.super_user))
    assert list_users(session, actor=world.actor(world.super_user, world.other_org.id)).total == 2
    for who in (world.finance, world.alice):
        with pytest.raises(Forbidden):
            list_users(session, actor=world.actor(who))


def test_search_words_must_all_match_and_like_wildcards_are_literal(world, session):
    accounts.create_user(session, actor=world.actor(world.admin), email="alice.smith@a.test", name="Alice Smith")
    accounts.create_user(session, actor=world.actor(world.admin), email="x_y@a.test", name="100% real")
    admin = world.actor(world.admin)
    assert _emails(list_users(session, actor=admin, search="alice")) == ["alice@a.test", "alice.smith@a.test"]
    assert _emails(list_users(session, actor=admin, search="ALICE smith")) == ["alice.smith@a.test"]
    assert _emails(list_users(session, actor=admin, search="alice nobody")) == []
    assert _emails(list_users(session, actor=admin, search="x_y")) == ["x_y@a.test"]
    assert _emails(list_users(session, actor=admin, search="_")) == ["x_y@a.test"]
    assert _emails(list_users(session, actor=admin, search="%")) == ["x_y@a.test"]
    # another org's user is never found
    assert _emails(list_users(session, actor=admin, search="carol")) == []


def test_filters(world, session):
    admin = world.actor(world.admin)
    world.bob.paid = False
    world.alice.banned = True
    world.finance.mfa_enabled = True
    session.add_all([world.bob, world.alice, world.finance])
    session.flush()
    assert _emails(list_users(session, actor=admin, paid="no")) == ["bob@a.test"]
    assert _emails(list_users(session, actor=admin, banned="yes")) == ["alice@a.test"]
    assert _emails(list_users(session, actor=admin, mfa="yes")) == ["finance@a.test"]
    assert _emails(list_users(session, actor=admin, role="admin")) == ["admin@a.test"]
    page = list_users(session, actor=admin, paid="yes", banned="no")
    assert _emails(page) == ["admin@a.test", "finance@a.test"] and page.org_users == 4


def test_sort_and_paging(world, session):
    admin = world.actor(world.admin)
    for i in range(30):
        accounts.create_user(session, actor=admin, email=f"user{i:02d}@a.test", max_tokens=1000 * i)
    page1 = list_users(session, actor=admin, sort="max_tokens", descending=True, page_size=25)
    assert page1.total == 34 and page1.pages == 2
    caps = [r.max_tokens for r in page1.rows]
    assert caps == sorted(caps, reverse=True) and caps[0] == 500_000
    page2 = list_users(session, actor=admin, sort="max_tokens", descending=True, page=2, page_size=25)
    assert len(page2.rows) == 9
    assert not {r.id for r in page1.rows} & {r.id for r in page2.rows}
    # a page beyond the end shows the last page
    assert list_users(session, actor=admin, page=99, page_size=25).page == 2
    by_email = list_users(session, actor=admin, sort="email", page_size=50)
    assert _emails(by_email) == sorted(_emails(by_email))


def test_usage_columns_come_from_the_monthly_rollup_and_sort(world, session):
    ensure_default_models(session)
    now = utcnow()
    first = month_start(now)
    prev_first = month_start(datetime.combine(first - timedelta(days=1), time(12), UTC))
    this_month = datetime.combine(first, time(1), UTC)
    last_month = datetime.combine(prev_first, time(1), UTC)
    gw = ledger.gateway_actor(world.org.id)
    model = "gpt-4o"
    events = [{"idempotency_key": key, "user": who.id, "model": model, "prompt_tokens": tokens,
               "completion_tokens": 0, "kind": kind, "occurred_at": when}
              for key, who, when, tokens, kind in (("k1", world.bob, this_month, 1000, "tokens"),
                                                   ("k2", world.bob, last_month, 500, "tokens"),
                                                   ("k3", world.alice, this_month, 300, "tokens"),
                                                   ("k4", world.alice, this_month, 70, "training"))]
    reports.report_usage(session, actor=gw, events=events, now=now)
    session.flush()
    admin = world.actor(world.admin)
    rows = {r.email: r for r in list_users(session, actor=admin).rows}
    bob, alice = rows["bob@a.test"], rows["alice@a.test"]
    assert bob.used_month > 0 and bob.used_prev > 0 and bob.used_total == bob.used_month + bob.used_prev
    assert alice.used_month > 0 and alice.used_month_training > 0 and alice.used_prev == 0
    top = list_users(session, actor=admin, sort="used_total", descending=True)
    assert _emails(top)[:2] == ["bob@a.test", "alice@a.test"]
    assert [r.used_total for r in top.rows] == sorted((r.used_total for r in top.rows), reverse=True)
    # the usage-sorted query returns the same numbers as the per-page query
    assert {r.email: r.used_month for r in top.rows} == {e: r.used_month for e, r in rows.items()}


@pytest.mark.parametrize("kwargs", [
    {"sort": "password_hash"}, {"sort": "id; DROP TABLE app_user"}, {"paid": "maybe"}, {"role": "root"},
    {"page_size": 1000}, {"page_size": "25"}, {"page": 0}, {"page": "2"}, {"page": True},
    {"search": "x" * 201}, {"search": {"$ne": 1}}, {"descending": "yes"},
])
def test_bad_arguments_are_refused(world, session, kwargs):
    with pytest.raises(Invalid):
        list_users(session, actor=world.actor(world.admin), **kwargs)


def test_other_org_admin_cannot_pick_an_org(world, session):
    with pytest.raises(NotFound):
        from services.core.permissions import scoped_org_id

        scoped_org_id(session, world.actor(world.other_admin), world.org.id)
