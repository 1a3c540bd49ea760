"""Token Statistics: each chart's numbers against hand-computed sums, granularity rules, filters and scope."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from models import AIModel, Purchase, UsageEvent, month_start, utcnow
from services.analytics import cards, charts, stats_filter
from services.analytics import statistics as st
from services.core.actor import Actor
from services.core.errors import Forbidden, Invalid, NotFound
from services.orgs import catalog
from services.usage import rollup_ranges as rr
from services.usage.ledger import bulk_load

UTC = UTC
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
_n = 0


def ev(world, user, model, kind, when, billed, *, org=None, prompt=None):
    global _n
    _n += 1
    return UsageEvent(idempotency_key=f"t-{_n}", org_id=org or world.org.id, user_id=user.id, model_id=model.id,
                      kind=kind, prompt_tokens=prompt if prompt is not None else billed, completion_tokens=0,
                      billed_tokens=billed, occurred_at=when, ip="10.0.0.1")


@pytest.fixture
def data(session, world):
    models = {m.name: m for m in catalog.ensure_default_models(session)}
    gpt, llama, emb = models["gpt-4o"], models["llama-3-70b"], models["text-embedding-3-large"]
    a, b = world.alice, world.bob
    bulk_load(session, [
        ev(world, a, gpt, "tokens", datetime(2026, 2, 28, 23, 30, tzinfo=UTC), 100),
        ev(world, a, gpt, "tokens", datetime(2026, 3, 1, 0, 10, tzinfo=UTC), 200),
        ev(world, b, llama, "tokens", datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 50),
        ev(world, b, emb, "training", datetime(2026, 3, 2, 10, 30, tzinfo=UTC), 30),
        ev(world, a, llama, "tokens", datetime(2026, 1, 10, 8, 0, tzinfo=UTC), 1000),
        ev(world, world.carol, gpt, "tokens", datetime(2026, 3, 1, 5, 0, tzinfo=UTC), 7777, org=world.other_org.id),
    ])
    session.commit()
    return {"gpt": gpt, "llama": llama, "emb": emb}


def flt(session, actor, start, end, **kw):
    return stats_filter.make_filter(session, actor, start=start, end=end, **kw)


def series(chart, kind="tokens"):
    f = chart.frame[chart.frame["kind"] == kind]
    return {p.strftime("%Y-%m-%d %H:%M" if p.hour else "%Y-%m-%d"): int(v)
            for p, v in zip(f["period"], f["billed_tokens"], strict=True)}


def test_usage_over_time_by_day_week_month(session, world, data):
    admin = world.actor(world.admin)
    f = flt(session, admin, "2026-02-27", "2026-03-03")
    day = charts.usage_over_time(session, actor=admin, flt=f, granularity="day")
    assert series(day) == {"2026-02-27": 0, "2026-02-28": 100, "2026-03-01": 200, "2026-03-02": 50, "2026-03-03": 0}
    assert series(day, "training") == {"2026-02-27": 0, "2026-02-28": 0, "2026-03-01": 0, "2026-03-02": 30,
                                       "2026-03-03": 0}
    week = charts.usage_over_time(session, actor=admin, flt=f, granularity="week")  # weeks start on Monday
    assert series(week) == {"2026-02-23": 300, "2026-03-02": 50}
    month = charts.usage_over_time(session, actor=admin, flt=f, granularity="month")
    assert series(month) == {"2026-02-01": 100, "2026-03-01": 250}
    assert series(month, "training") == {"2026-02-01": 0, "2026-03-01": 30}
    assert "org" not in day.frame.columns  # one org: no org column


def test_hour_granularity_and_its_limits(session, world, data):
    admin = world.actor(world.admin)
    f = flt(session, admin, "2026-02-28", "2026-03-01")
    hour = charts.usage_over_time(session, actor=admin, flt=f, granularity="hour")
    s = series(hour)
    assert len(s) == 48 and s["2026-02-28 23:00"] == 100 and sum(s.values()) == 300
    assert charts.usage_over_time(session, actor=admin, flt=f, granularity="day").frame["billed_tokens"].sum() == 300
    with pytest.raises(Invalid, match="at most 7 days"):
        charts.usage_over_time(session, actor=admin, flt=flt(session, admin, "2026-02-01", "2026-02-08"),
                               granularity="hour")
    charts.usage_over_time(session, actor=admin, flt=flt(session, admin, "2026-02-01", "2026-02-07"),
                           granularity="hour")
    with pytest.raises(Invalid, match="per organization and kind"):
        charts.usage_over_time(session, actor=admin, flt=flt(session, admin, "2026-02-28", "2026-03-01",
                                                          user_id=world.alice.id), granularity="hour")
    with pytest.raises(Invalid):
        charts.usage_over_time(session, actor=admin, flt=f, granularity="minute")


def test_filters_user_model_kind(session, world, data):
    admin = world.actor(world.admin)
    f = flt(session, admin, "2026-01-01", "2026-03-31", user_id=world.alice.id)
    by_user = charts.usage_over_time(session, actor=admin, flt=f, granularity="month")
    assert series(by_user) == {"2026-01-01": 1000, "2026-02-01": 100, "2026-03-01": 200}
    f = flt(session, admin, "2026-01-01", "2026-03-31", model_id=str(data["llama"].id))
    by_model = charts.usage_over_time(session, actor=admin, flt=f, granularity="month")
    assert series(by_model) == {"2026-01-01": 1000, "2026-02-01": 0, "2026-03-01": 50}
    f = flt(session, admin, "2026-01-01", "2026-03-31", kind="training")
    assert set(charts.usage_over_time(session, actor=admin, flt=f, granularity="month").frame["kind"]) == {"training"}
    both = flt(session, admin, "2026-01-01", "2026-03-31", user_id=world.alice.id, model_id=data["gpt"].id)
    assert "model filter is not applied" in charts.usage_over_time(session, actor=admin, flt=both,
                                                                   granularity="day").note
    for bad in ({"start": "yesterday", "end": "2026-01-01"}, {"start": "2026-02-01", "end": "2026-01-01"},
                {"start": "2020-01-01", "end": "2026-01-01"}, {"start": "2026-01-01", "end": "2026-01-02",
                                                               "kind": "gold"},
                {"start": "2026-01-01", "end": "2026-01-02", "model_id": {"x": 1}}):
        with pytest.raises(Invalid):
            stats_filter.make_filter(session, admin, **bad)


def test_monthly_inference_vs_training_last_12_months(session, world, data):
    admin = world.actor(world.admin)
    chart = charts.monthly_by_kind(session, actor=admin, now=NOW)
    f = chart.frame
    assert len(f) == 12 and f["month"].iloc[0] == datetime(2025, 4, 1) and f["month"].iloc[-1] == datetime(2026, 3, 1)
    got = {m.strftime("%Y-%m"): (int(t), int(tr))
           for m, t, tr in zip(f["month"], f["tokens"], f["training"], strict=True)}
    assert got["2026-01"] == (1000, 0) and got["2026-02"] == (100, 0) and got["2026-03"] == (250, 30)
    assert sum(t for t, _ in got.values()) == 1350
    alice = charts.monthly_by_kind(session, actor=admin, user_id=world.alice.id, now=NOW).frame
    assert int(alice["tokens"].sum()) == 1300 and int(alice["training"].sum()) == 0


@pytest.mark.parametrize("start,end,expected", [
    ("2026-01-01", "2026-03-31", {"alice": 1300, "bob": 80}),   # whole months only
    ("2026-02-28", "2026-03-01", {"alice": 300}),               # two partial months
    ("2026-01-05", "2026-03-02", {"alice": 1300, "bob": 80}),   # edges + a whole February
    ("2026-01-11", "2026-03-01", {"alice": 300}),
    ("2026-03-02", "2026-03-02", {"bob": 80}),
])
def test_per_user_matches_the_ledger_across_month_edges(session, world, data, start, end, expected):
    admin = world.actor(world.admin)
    chart = charts.per_user(session, actor=admin, flt=flt(session, admin, start, end), limit=10)
    got = {e.split("@")[0]: int(v) for e, v in zip(chart.frame["email"], chart.frame["billed_tokens"], strict=True)}
    assert got == expected
    assert list(chart.frame["billed_tokens"]) == sorted(chart.frame["billed_tokens"], reverse=True)


def test_top_n_and_by_model_and_assigned(session, world, data):
    admin = world.actor(world.admin)
    f = flt(session, admin, "2026-01-01", "2026-03-31")
    top1 = charts.per_user(session, actor=admin, flt=f, limit=1).frame
    assert list(top1["email"]) == ["alice@a.test"]
    with pytest.raises(Invalid):
        charts.per_user(session, actor=admin, flt=f, limit=10_000)
    models = charts.by_model(session, actor=admin, flt=f).frame
    assert dict(zip(models["model"], models["billed_tokens"], strict=True)) == {
        "llama-3-70b": 1050, "gpt-4o": 300, "text-embedding-3-large": 30}
    assert list(models["model"])[0] == "llama-3-70b"
    av = charts.assigned_vs_used(session, actor=admin, now=NOW).frame
    rows = {e: (int(a), int(u)) for e, a, u in zip(av["email"], av["assigned"], av["used"], strict=True)}
    assert rows["alice@a.test"] == (500_000, 200) and rows["bob@a.test"] == (300_000, 50)
    assert "carol@b.test" not in rows and "root@steward.test" not in rows
    tr = charts.assigned_vs_used(session, actor=admin, kind="training", now=NOW).frame
    assert dict(zip(tr["email"], tr["used"], strict=True))["bob@a.test"] == 30


def test_cards_projection_and_days_left(session, world, data):
    models = {m.name: m for m in session.exec(select(AIModel)).all()}
    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    if now.day < 4:
        now = now.replace(day=4)  # keep both events in this month (purchase began 10 days ago)
    bulk_load(session, [ev(world, world.alice, models["gpt-4o"], "tokens", now - timedelta(hours=1), 1000),
                        ev(world, world.bob, models["gpt-4o"], "tokens", now - timedelta(days=3), 2000)])
    session.commit()
    c = cards.cards(session, actor=world.actor(world.finance), now=now)
    assert c.purchased == 4_000_000 and c.assigned == 500_000 + 300_000 + 2 * 200_000 or c.assigned > 0
    assert c.used_this_month == 3000
    first = datetime.combine(month_start(now), datetime.min.time(), tzinfo=UTC)
    nxt = datetime.combine(month_start(first + timedelta(days=32)), datetime.min.time(), tzinfo=UTC)
    assert c.projected_month_end == 3000 * int((nxt - first).total_seconds()) // int((now - first).total_seconds())
    assert c.burn_per_day == int(3000 / 7.5)  # 7 full days + half of today
    assert c.pool_remaining == 4_000_000 - 3000 and c.days_left == (4_000_000 - 3000) // int(3000 / 7.5)
    empty = cards.cards(session, actor=world.actor(world.other_admin), now=now)
    assert empty.days_left is None and empty.burn_per_day == 0


def test_scope_org_b_sees_nothing_of_org_a(session, world, data):
    b = world.actor(world.other_admin)
    f = flt(session, b, "2026-01-01", "2026-03-31")
    over_time = charts.usage_over_time(session, actor=b, flt=f, granularity="month")
    assert int(over_time.frame["billed_tokens"].sum()) == 7777
    assert list(charts.per_user(session, actor=b, flt=f, limit=10).frame["email"]) == ["carol@b.test"]
    assert dict(zip(*[charts.by_model(session, actor=b, flt=f).frame[c] for c in ("model", "billed_tokens")],
                    strict=True)) == {"gpt-4o": 7777}
    assert "alice@a.test" not in set(charts.assigned_vs_used(session, actor=b, now=NOW).frame["email"])
    with pytest.raises(NotFound):  # org A's user answers like a missing one
        flt(session, b, "2026-01-01", "2026-03-31", user_id=world.alice.id)
    with pytest.raises(NotFound):
        st.find_user(session, actor=b, email="alice@a.test")
    with pytest.raises(NotFound):
        charts.monthly_by_kind(session, actor=b, user_id=world.alice.id, now=NOW)


def test_roles_member_refused_finance_reads(session, world, data):
    member = world.actor(world.alice)
    with pytest.raises(Forbidden):
        cards.cards(session, actor=member)
    with pytest.raises(Forbidden):
        charts.by_model(session, actor=member, flt=stats_filter.StatsFilter(date(2026, 1, 1), date(2026, 3, 31)))
    fin = world.actor(world.finance)
    f = flt(session, fin, "2026-01-01", "2026-03-31")
    assert int(charts.by_model(session, actor=fin, flt=f).frame["billed_tokens"].sum()) == 1380


def test_super_admin_all_orgs_side_by_side(session, world, data):
    root_all = Actor(world.super_user.id, "super_admin", None)
    f = flt(session, root_all, "2026-03-01", "2026-03-01")
    day = charts.usage_over_time(session, actor=root_all, flt=f, granularity="day").frame
    tok = day[day["kind"] == "tokens"]
    assert dict(zip(tok["org"], tok["billed_tokens"], strict=True)) == {"Org A": 200, "Org B": 7777}
    users = charts.per_user(session, actor=root_all, flt=f, limit=5).frame
    assert list(zip(users["org"], users["email"], strict=True)) == [("Org B", "carol@b.test"),
                                                                     ("Org A", "alice@a.test")]
    c = cards.cards(session, actor=root_all, now=NOW)
    assert {r["org"] for r in c.per_org} == {"Org A", "Org B"}
    one = Actor(world.super_user.id, "super_admin", world.other_org.id)
    assert "org" not in charts.by_model(session, actor=one, flt=f).frame.columns
    assert int(charts.by_model(session, actor=one, flt=f).frame["billed_tokens"].sum()) == 7777


def test_statistics_page_bundle(session, world, data):
    admin = world.actor(world.admin)
    page = st.statistics_page(session, actor=admin, flt=flt(session, admin, "2026-01-01", "2026-03-31"),
                              granularity="week", now=NOW)
    assert int(page.over_time.frame["billed_tokens"].sum()) == 1380
    assert not page.top_users.empty and not page.models.empty
    empty = st.statistics_page(session, actor=admin, flt=flt(session, admin, "2025-01-01", "2025-01-31"),
                               granularity="day", now=NOW)
    assert empty.over_time.empty and empty.top_users.empty and empty.models.empty


def _signed_days(pieces):
    """day → how many times the pieces count it (an open edge counts the days of its exact part)."""
    out = {}
    for p in pieces:
        lo, hi = p.part if p.edge else (p.lo, p.hi)
        d = lo
        while d < hi:
            out[d] = out.get(d, 0) + p.sign
            d += timedelta(days=1)
    return {d: n for d, n in out.items() if n}


def test_pieces_cover_the_range_exactly():
    import random

    rng = random.Random(9)
    cases = [(date(2026, 1, 31), date(2026, 3, 2)), (date(2026, 1, 2), date(2026, 1, 30)),
             (date(2025, 12, 15), date(2026, 2, 20)), (date(2026, 2, 1), date(2026, 3, 1)),
             (date(2025, 12, 4), date(2026, 12, 4)), (date(2026, 9, 5), date(2026, 12, 4))]
    for _ in range(300):
        a = date(2023, 1, 1) + timedelta(days=rng.randrange(4 * 365))
        cases.append((a, a + timedelta(days=rng.randrange(1, 3 * 366))))
    for start, end in cases:
        middle = start + (end - start) / 2
        for today in (start - timedelta(days=1), end - timedelta(days=1), middle, end + timedelta(400)):
            for years in (True, False):
                for edges in (False, True):
                    ps = rr.pieces(start, end, rr.Costs(today), years=years, edges=edges)
                    assert _signed_days(ps) == {start + timedelta(days=i): 1 for i in range((end - start).days)}
                    for p in ps:
                        assert p.level in (("year", "month", "days") if years else ("month", "days"))
                        assert p.edge is (p.part is not None) and (edges or not p.edge)
                        if p.edge:  # the whole month bounds the part
                            assert p.level == "month" and p.lo <= p.part[0] < p.part[1] <= p.hi
    # The last 90 days / 12 months (ending today) read the current month and year whole, minus their future.
    today = date(2026, 12, 3)
    year = rr.pieces(date(2025, 12, 4), date(2026, 12, 4), rr.Costs(today), edges=True)
    assert rr.Costs(today).total(year) <= 3 and ("year", date(2026, 1, 1)) in {(p.level, p.lo) for p in year}
    quarter = rr.pieces(date(2026, 9, 5), date(2026, 12, 4), rr.Costs(today), edges=True)
    assert rr.Costs(today).total(quarter) <= 4 and any(p.edge for p in quarter)


@pytest.mark.parametrize("top", [1, 3, 10])
def test_top_users_from_bounds_equal_the_plain_ranking(session, world, top, monkeypatch):
    """Many users with skewed usage over 14 months; for ranges with partial months at their edges the top N
    (found from bounds, summing the edges for the candidates only) equals the ranking summed from the ledger,
    ties broken by user id — and equals the everyone-exact path the page uses above MAX_CANDIDATES users."""
    import random

    from services.users import accounts

    rng = random.Random(top)
    models = catalog.ensure_default_models(session)
    sysa = Actor(None, "super_admin", world.org.id, email="system")
    people = [accounts.create_user(session, actor=sysa, email=f"u{i}@a.test").value for i in range(24)]
    session.commit()
    weights = [rng.paretovariate(1.2) for _ in people]
    start = datetime(2025, 11, 1, tzinfo=UTC)
    evs = []
    for _ in range(900):
        u = rng.choices(people, weights)[0]
        evs.append(ev(world, u, rng.choice(models), rng.choice(["tokens", "tokens", "training"]),
                      start + timedelta(seconds=rng.randrange(420 * 86400)), rng.choice([5, 50, 500])))
    bulk_load(session, evs)
    session.commit()
    admin = world.actor(world.admin)
    for _ in range(15):
        a = date(2025, 11, 1) + timedelta(days=rng.randrange(400))
        b = a + timedelta(days=rng.randrange(20, 200))
        kind = rng.choice([None, "tokens", "training"])
        want = {}
        for e in evs:
            if a <= e.occurred_at.date() <= b and kind in (None, e.kind):
                want[e.user_id] = want.get(e.user_id, 0) + e.billed_tokens
        ranked = sorted(((v, u) for u, v in want.items() if v > 0), key=lambda t: (-t[0], t[1]))[:top]
        f = flt(session, admin, a.isoformat(), b.isoformat(), kind=kind)
        got = charts.per_user(session, actor=admin, flt=f, limit=top)
        assert list(zip(got.column("billed_tokens"), got.column("user_id"), strict=True)) == ranked, (a, b, kind)
        monkeypatch.setattr(charts, "MAX_CANDIDATES", 0)
        assert charts.per_user(session, actor=admin, flt=f, limit=top).rows == got.rows
        monkeypatch.undo()


def test_random_usage_rollups_equal_the_ledger(session, world):
    import random

    from sqlmodel import func

    rng = random.Random(4)
    models = catalog.ensure_default_models(session)
    people = [world.alice, world.bob, world.admin]
    start = datetime(2025, 12, 20, tzinfo=UTC)
    evs = [ev(world, rng.choice(people), rng.choice(models), rng.choice(["tokens", "training"]),
              start + timedelta(seconds=rng.randrange(120 * 86400)), rng.randrange(1, 5000)) for _ in range(400)]
    bulk_load(session, evs)
    session.commit()
    admin = world.actor(world.admin)
    for _ in range(12):
        a = date(2025, 12, 18) + timedelta(days=rng.randrange(100))
        b = a + timedelta(days=rng.randrange(60))
        f = flt(session, admin, a.isoformat(), b.isoformat())
        inside = [e for e in evs if a <= e.occurred_at.date() <= b]
        want = {}
        for e in inside:
            want[e.user_id] = want.get(e.user_id, 0) + e.billed_tokens
        got = charts.per_user(session, actor=admin, flt=f, limit=None).frame
        assert dict(zip(got["user_id"], got["billed_tokens"], strict=True)) == want
        for gran in ("day", "week", "month"):
            frame = charts.usage_over_time(session, actor=admin, flt=f, granularity=gran).frame
            assert int(frame["billed_tokens"].sum()) == sum(e.billed_tokens for e in inside)
        week = charts.usage_over_time(session, actor=admin, flt=f, granularity="week").frame
        for (p, k), v in week.groupby(["period", "kind"])["billed_tokens"].sum().items():
            mon = p.date()
            assert v == sum(e.billed_tokens for e in inside if e.kind == k and
                            mon <= e.occurred_at.date() < mon + timedelta(days=7))
        assert int(charts.by_model(session, actor=admin, flt=f).frame["billed_tokens"].sum()) == sum(
            e.billed_tokens for e in inside)
    ledger = session.exec(select(func.sum(UsageEvent.billed_tokens)).where(UsageEvent.org_id == world.org.id)).one()
    monthly = charts.monthly_by_kind(session, actor=admin, now=datetime(2026, 4, 30, tzinfo=UTC)).frame
    assert int(monthly["billed_tokens"].sum()) == ledger


def test_all_orgs_cards_when_no_org_has_an_unexpired_purchase(session, world, data):
    """Every pool expired (or none bought): the all-orgs cards still load, each org with nothing left of a pool."""
    for p in session.exec(select(Purchase)).all():
        p.expires_at = NOW - timedelta(days=1)
        session.add(p)
    session.commit()
    c = cards.cards(session, actor=Actor(world.super_user.id, "super_admin", None), now=NOW)
    assert {r["org"] for r in c.per_org} == {"Org A", "Org B"}
    assert c.purchased == 0 and c.pool_remaining == 0
