"""The usage ledger and its rollups: billing arithmetic, idempotent retries, all-or-nothing batches,
rollups that always equal the ledger, and who may report usage."""

import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from sqlmodel import Session, delete, select

from models import ROLLUP_TABLES, AIModel, UsageDaily, UsageEvent, UsageHourly, UsageUserDaily, UsageUserMonthly
from services.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from services.gateway.reports import report_usage
from services.orgs import catalog
from services.usage.event_checks import MAX_BATCH
from services.usage.ledger import billed_tokens, bulk_load, gateway_actor
from tests.conftest import snapshot
from tests.services.rollup_helpers import actual_statistics_rollups, expected_statistics_rollups

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the clock handed to report_usage (`now=`)
IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(timedelta(hours=-8))
OFFSETS = [UTC, IST, PST, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
           timezone(timedelta(hours=9, minutes=45)), timezone(timedelta(hours=-3, minutes=-30))]


@pytest.fixture
def w(world, session):
    """The conftest world plus the default model catalog, committed."""
    w = world
    w.models = {m.name: m for m in catalog.ensure_default_models(session)}
    session.commit()  # no open transaction: on SQLite it would hold the write lock (BEGIN IMMEDIATE)
    return w


def ev(key, user, *, model="gpt-4o", prompt=100, completion=50, kind="tokens", at=None, **extra) -> dict:
    raw = {"idempotency_key": key, "user": user, "model": model, "prompt_tokens": prompt,
           "completion_tokens": completion, "kind": kind,
           "occurred_at": at or NOW - timedelta(hours=1)}
    raw.update(extra)
    return raw


def gw(w, org=None):
    return gateway_actor((org or w.org).id)


def ceil_rate(prompt: int, completion: int, model: AIModel) -> int:
    """Independent reference: exact rational arithmetic, then ceiling."""
    return math.ceil(Fraction(prompt * model.prompt_rate_milli + completion * model.completion_rate_milli, 1000))


# --- billing ------------------------------------------------------------------------------------------

# (model, prompt, completion, billed) — computed by hand from catalog.DEFAULT_MODELS (rates in thousandths).
BILLING_CASES = [
    ("gpt-4o", 1234, 567, 2935),                     # 1234×1.0 + 567×3.0 = 2935 exactly
    ("gpt-4o-mini", 1, 0, 1),                        # 0.15 → rounded up to 1
    ("gpt-4o-mini", 7, 3, 3),                        # 1.05 + 1.8 = 2.85 → 3
    ("gpt-4o-mini", 1000, 1000, 750),                # 150 + 600
    ("gemini-1.5-pro", 333, 333, 1066),              # 266.4 + 799.2 = 1065.6 → 1066
    ("mistral-large", 1, 1, 3),                      # 0.7 + 2.1 = 2.8 → 3
    ("text-embedding-3-large", 10, 0, 1),            # exactly 1.0: no rounding up
    ("text-embedding-3-large", 11, 0, 2),            # 1.1 → 2
    ("text-embedding-3-large", 0, 5_000, 0),         # completion rate 0
    ("claude-3-5-sonnet", 0, 0, 0),
    # (2**60 + 1) × 0.5 = 2**59 + 0.5 → 2**59 + 1. Float arithmetic would give 2**59 (the +1 is lost).
    ("llama-3-70b", 2**60 + 1, 0, 576_460_752_303_423_489),
]


def test_billed_tokens_use_model_rates_rounded_up(w, session, engine):
    batch = [ev(f"bill-{i}", w.alice.id, model=m, prompt=p, completion=c)
             for i, (m, p, c, _) in enumerate(BILLING_CASES)]
    out = report_usage(session, actor=gw(w), events=batch, now=NOW)
    session.commit()

    expected = [billed for *_, billed in BILLING_CASES]
    assert [r.billed_tokens for r in out] == expected
    with Session(engine) as s:
        stored = {e.idempotency_key: e for e in s.exec(select(UsageEvent)).all()}
        assert [stored[f"bill-{i}"].billed_tokens for i in range(len(BILLING_CASES))] == expected
        assert all(isinstance(stored[f"bill-{i}"].billed_tokens, int) for i in range(len(BILLING_CASES)))
        # The daily rollup for llama-3-70b holds the exact 64-bit value.
        llama = s.exec(select(UsageDaily).where(UsageDaily.model_id == w.models["llama-3-70b"].id)).one()
        assert llama.billed_tokens == 576_460_752_303_423_489
        assert llama.prompt_tokens == 2**60 + 1


def test_billed_tokens_function_matches_reference():
    rng = random.Random(7)
    for _ in range(2000):
        m = AIModel(name="x", prompt_rate_milli=rng.randint(0, 10_000), completion_rate_milli=rng.randint(0, 10_000))
        p, c = rng.randint(0, 2**40), rng.randint(0, 2**40)
        assert billed_tokens(m, p, c) == ceil_rate(p, c, m)


# --- idempotency --------------------------------------------------------------------------------------

def test_retrying_a_key_changes_nothing(w, session, engine):
    first = report_usage(session, actor=gw(w), now=NOW, events=[
        ev("req-1", w.alice.id, prompt=1000, completion=10),
        ev("req-2", w.bob.email, model="gpt-4o-mini", prompt=40, completion=2, kind="training"),
    ])
    session.commit()
    assert [r.duplicate for r in first] == [False, False]
    before = snapshot(engine)
    assert len(before["usage_event"]) == 2 and before["usage_daily"] and before["usage_hourly"]

    again = report_usage(session, actor=gw(w), now=NOW + timedelta(minutes=3),
                         events=[ev("req-1", w.alice.id, prompt=1000, completion=10)])
    session.commit()
    assert len(again) == 1
    assert again[0].duplicate is True
    assert again[0].event_id == first[0].event_id
    assert again[0].billed_tokens == first[0].billed_tokens == 1030
    assert snapshot(engine) == before

    # A key reused for a different event is a Conflict naming the key, and the batch records nothing (also
    # when the caller commits anyway).
    with pytest.raises(Conflict, match="idempotency_key 'req-2' was already used for a different event") as exc:
        report_usage(session, actor=gw(w), now=NOW, events=[
            ev("req-3", w.alice.id), ev("req-2", w.bob.id, prompt=999_999, completion=999_999)])
    session.commit()
    assert [(i, f) for i, f, *_ in exc.value.event_errors] == [(1, "idempotency_key")]
    assert snapshot(engine) == before


def test_batch_mixing_retries_and_new_events_adds_only_the_new_ones(w, session, engine):
    report_usage(session, actor=gw(w), now=NOW, events=[ev("a", w.alice.id, prompt=100, completion=0)])
    session.commit()
    out = report_usage(session, actor=gw(w), now=NOW, events=[
        ev("b", w.alice.id, prompt=20, completion=0),
        ev(" a ", w.alice.id, prompt=100, completion=0),  # surrounding spaces: the same key
    ])
    session.commit()
    assert [(r.idempotency_key, r.duplicate) for r in out] == [("b", False), ("a", True)]
    with Session(engine) as s:
        assert sorted(s.exec(select(UsageEvent.idempotency_key)).all()) == ["a", "b"]
        monthly = s.exec(select(UsageUserMonthly)).one()
        assert (monthly.billed_tokens, monthly.events) == (120, 2)


# --- all-or-nothing validation ------------------------------------------------------------------------

def _bad_cases():
    big = 2**63  # one more than the largest BIGINT
    return [
        ("negative", lambda w: ev("bad", w.alice.id, prompt=-1), Invalid, "cannot be negative", "prompt_tokens"),
        ("negative-str", lambda w: ev("bad", w.alice.id, completion="-5"), Invalid, "cannot be negative",
         "completion_tokens"),
        ("fraction", lambda w: ev("bad", w.alice.id, prompt=1.5), Invalid, "whole number", "prompt_tokens"),
        ("text", lambda w: ev("bad", w.alice.id, completion="12abc"), Invalid, "whole number", "completion_tokens"),
        ("bool", lambda w: ev("bad", w.alice.id, prompt=True), Invalid, "whole number", "prompt_tokens"),
        ("none", lambda w: ev("bad", w.alice.id, prompt=None), Invalid, "whole number", "prompt_tokens"),
        ("huge", lambda w: ev("bad", w.alice.id, prompt=big), Invalid, "too large", "prompt_tokens"),
        ("huge-str", lambda w: ev("bad", w.alice.id, completion=str(big)), Invalid, "too large", "completion_tokens"),
        # Each count fits in 64 bits but the billed amount (3.0 per completion token) does not.
        ("billed-overflow", lambda w: ev("bad", w.alice.id, completion=2**62), Invalid, "too large", "billed_tokens"),
        ("unknown-user-id", lambda w: ev("bad", 987_654), NotFound, "unknown user", "user"),
        ("unknown-user-email", lambda w: ev("bad", "ghost@a.test"), NotFound, "unknown user", "user"),
        ("other-org-user", lambda w: ev("bad", w.carol.id), NotFound, "unknown user", "user"),
        ("other-org-email", lambda w: ev("bad", w.carol.email), NotFound, "unknown user", "user"),
        ("user-not-a-ref", lambda w: ev("bad", ["x"]), Invalid, "user id or an email", "user"),
        ("unknown-model", lambda w: ev("bad", w.alice.id, model="gpt-9"), NotFound, "unknown model", "model"),
        ("missing-model", lambda w: ev("bad", w.alice.id, model=""), Invalid, "model is required", "model"),
        ("bad-kind", lambda w: ev("bad", w.alice.id, kind="embedding"), Invalid, "kind must be", "kind"),
        ("missing-key", lambda w: {k: v for k, v in ev("bad", w.alice.id).items() if k != "idempotency_key"},
         Invalid, "idempotency_key is required", "idempotency_key"),
        ("blank-key", lambda w: ev("   ", w.alice.id), Invalid, "idempotency_key is required", "idempotency_key"),
        ("long-key", lambda w: ev("k" * 201, w.alice.id), Invalid, "idempotency_key is required", "idempotency_key"),
        ("future", lambda w: ev("bad", w.alice.id, at=NOW + timedelta(minutes=6)), Invalid, "in the future",
         "occurred_at"),
        ("future-offset", lambda w: ev("bad", w.alice.id, at=(NOW + timedelta(hours=1)).astimezone(PST).isoformat()),
         Invalid, "in the future", "occurred_at"),
        ("bad-time", lambda w: ev("bad", w.alice.id, at="yesterday"), Invalid, "iso 8601", "occurred_at"),
        ("not-an-object", lambda w: ["bad"], Invalid, "must be an object", None),
    ]


BAD_CASES = _bad_cases()


@pytest.fixture
def with_prior_usage(w, session):
    """Some committed usage, so 'unchanged' covers non-empty rollups too."""
    report_usage(session, actor=gw(w), now=NOW, events=[ev("prior-1", w.alice.id), ev("prior-2", w.bob.id)])
    session.commit()
    return w


def _assert_rejected(session, engine, w, events, exc_type, fragment, field):
    before = snapshot(engine)
    with pytest.raises(exc_type) as err:
        report_usage(session, actor=gw(w), events=events, now=NOW)
    # Committing (not rolling back) proves nothing was written, not even inside the transaction.
    session.commit()
    assert snapshot(engine) == before
    e = err.value
    assert isinstance(e, DomainError)
    assert e.message and str(e) == e.message
    assert fragment in e.message.lower(), e.message
    assert e.field == field
    return e


@pytest.mark.parametrize("case", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_one_bad_event_rejects_the_whole_batch(case, with_prior_usage, session, engine):
    w = with_prior_usage
    _, make_bad, exc_type, fragment, field = case
    events = [ev("good-1", w.alice.id), make_bad(w), ev("good-2", w.bob.id), ev("good-3", w.admin.id)]
    _assert_rejected(session, engine, w, events, exc_type, fragment, field)


def test_key_repeated_inside_a_batch_rejects_the_batch(with_prior_usage, session, engine):
    """A conflict (409), not a malformed body: each event is well formed, together they reuse a key."""
    w = with_prior_usage
    for dup in ("good-1", " good-1 "):
        events = [ev("good-1", w.alice.id), ev("good-2", w.bob.id), ev(dup, w.alice.id)]
        e = _assert_rejected(session, engine, w, events, Conflict, "repeats idempotency_key 'good-1' (events[0])",
                             "idempotency_key")
        assert [(i, f) for i, f, *_ in e.event_errors] == [(2, "idempotency_key")]


def test_batch_size_limit(with_prior_usage, session, engine):
    w = with_prior_usage
    too_many = [ev(f"k-{i}", w.alice.id, prompt=1, completion=0) for i in range(MAX_BATCH + 1)]
    e = _assert_rejected(session, engine, w, too_many, Invalid, "at most 1,000", None)
    assert MAX_BATCH == 1000
    _assert_rejected(session, engine, w, [], Invalid, "at least one", None)
    _assert_rejected(session, engine, w, {"idempotency_key": "x"}, Invalid, "at least one", None)
    assert e.status == 422

    # Exactly the limit is accepted.
    out = report_usage(session, actor=gw(w), events=too_many[:MAX_BATCH], now=NOW)
    session.commit()
    assert len(out) == MAX_BATCH and not any(r.duplicate for r in out)
    with Session(engine) as s:
        assert len(s.exec(select(UsageEvent.id)).all()) == MAX_BATCH + 2


# --- rollups equal the ledger -------------------------------------------------------------------------

BOUNDARIES = [
    datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # year
    datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),   # month
    datetime(2024, 2, 1, 0, 0, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),   # leap day → March
    datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
    datetime(2024, 3, 3, 23, 59, 59, 999999, tzinfo=UTC),    # Sunday → Monday (ISO week)
    datetime(2024, 3, 4, 0, 0, tzinfo=UTC),
    datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 4, 1, 0, 0, tzinfo=UTC),
    datetime(2024, 4, 10, 13, 59, 59, 999999, tzinfo=UTC),   # hour
    datetime(2024, 4, 10, 14, 0, tzinfo=UTC),
]
MODEL_NAMES = [name for name, *_ in catalog.DEFAULT_MODELS]


def _as_input(instant: datetime, rng: random.Random):
    """The same instant as the gateway might send it: a datetime or ISO text, in some UTC offset."""
    local = instant.astimezone(rng.choice(OFFSETS))
    form = rng.randrange(4)
    if form == 0:
        return local
    if form == 1 or local.utcoffset():
        return local.isoformat()
    if form == 2:
        return local.isoformat().replace("+00:00", "Z")
    return local.replace(tzinfo=None).isoformat()  # naive text counts as UTC


def random_events(rng: random.Random, w, n: int, prefix: str) -> list[tuple[int, dict, datetime]]:
    """(org id, raw event, its instant in UTC) for users of both orgs."""
    people = [(w.org.id, w.alice), (w.org.id, w.bob), (w.org.id, w.admin),
              (w.other_org.id, w.carol), (w.other_org.id, w.other_admin)]
    start = datetime(2023, 12, 20, tzinfo=UTC)
    span = int((NOW - start).total_seconds())
    out = []
    for i in range(n):
        if rng.random() < 0.4:
            instant = rng.choice(BOUNDARIES)
        else:
            instant = start + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
        org_id, user = rng.choice(people)
        raw = ev(f"{prefix}-{i}", rng.choice((user.id, user.email)), model=rng.choice(MODEL_NAMES),
                 prompt=rng.choice((0, 1, 7, rng.randrange(100_000), rng.randrange(10**12))),
                 completion=rng.choice((0, 3, rng.randrange(50_000))), kind=rng.choice(("tokens", "training")),
                 at=_as_input(instant, rng), ip=f"10.0.0.{rng.randrange(256)}")
        out.append((org_id, raw, instant))
    return out


# Hand-checked events for the finance user (no random event uses them): gpt-4o, prompt only → billed = prompt.
EDGE_EVENTS = [
    ("edge-1", "2024-02-01T05:29:59.999999+05:30", 1),         # = 2024-01-31 23:59:59.999999Z
    ("edge-2", "2024-01-31T19:00:00-05:00", 10),               # = 2024-02-01 00:00Z
    ("edge-3", datetime(2024, 2, 29, 16, 0, tzinfo=PST), 100),  # = 2024-03-01 00:00Z
    ("edge-4", "2024-03-01T13:59:59.999999+14:00", 1_000),     # = 2024-02-29 23:59:59.999999Z
    ("edge-5", "2024-04-01T00:00:00Z", 10_000),
    ("edge-6", "2024-03-31T23:59:59.999999", 100_000),         # naive: UTC
]


def ledger_rows(engine) -> list[UsageEvent]:
    with Session(engine) as s:
        return list(s.exec(select(UsageEvent)).all())


def expected_rollups(events) -> dict:
    """Every rollup recomputed in plain Python from ledger rows."""
    daily, hourly, monthly, user_daily = (defaultdict(lambda: [0, 0, 0, 0]), defaultdict(lambda: [0, 0]),
                                          defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0]))
    for e in events:
        t = e.occurred_at.astimezone(UTC)
        d = daily[(e.org_id, e.model_id, e.kind, t.date())]
        d[0] += e.prompt_tokens
        d[1] += e.completion_tokens
        d[2] += e.billed_tokens
        d[3] += 1
        for table, key in ((hourly, (e.org_id, e.kind, t.replace(minute=0, second=0, microsecond=0))),
                           (monthly, (e.org_id, e.user_id, e.kind, date(t.year, t.month, 1))),
                           (user_daily, (e.org_id, e.user_id, e.kind, t.date()))):
            table[key][0] += e.billed_tokens
            table[key][1] += 1
    as_tuples = lambda acc: {k: tuple(v) for k, v in acc.items()}  # noqa: E731
    return {"daily": as_tuples(daily), "hourly": as_tuples(hourly), "user_monthly": as_tuples(monthly),
            "user_daily": as_tuples(user_daily), **expected_statistics_rollups(events)}


def actual_rollups(engine) -> dict:
    with Session(engine) as s:
        return {
            "daily": {(r.org_id, r.model_id, r.kind, r.day): (r.prompt_tokens, r.completion_tokens, r.billed_tokens,
                                                              r.events) for r in s.exec(select(UsageDaily))},
            "hourly": {(r.org_id, r.kind, r.hour): (r.billed_tokens, r.events) for r in s.exec(select(UsageHourly))},
            "user_monthly": {(r.org_id, r.user_id, r.kind, r.month): (r.billed_tokens, r.events)
                             for r in s.exec(select(UsageUserMonthly))},
            "user_daily": {(r.org_id, r.user_id, r.kind, r.day): (r.billed_tokens, r.events)
                           for r in s.exec(select(UsageUserDaily))},
            **actual_statistics_rollups(s),
        }


def record_in_batches(session, w, items, rng) -> list:
    """Record (org id, raw event, …) items through the gateway of each org, in small random batches,
    one transaction per batch."""
    by_org = defaultdict(list)
    for org_id, raw, *_ in items:
        by_org[org_id].append(raw)
    batches = []
    for org_id, raws in by_org.items():
        i = 0
        while i < len(raws):
            size = rng.randint(1, 60)
            batches.append((org_id, raws[i:i + size]))
            i += size
    rng.shuffle(batches)
    results = []
    for org_id, raws in batches:
        results += report_usage(session, actor=gateway_actor(org_id), events=raws, now=NOW)
        session.commit()
    return results


def test_rollups_equal_the_ledger(w, session, engine):
    rng = random.Random(20240229)
    items = random_events(rng, w, 400, "r")
    items += [(w.org.id, ev(key, w.finance.id, prompt=p, completion=0, kind="training", at=at), None)
              for key, at, p in EDGE_EVENTS]
    # The generator must really exercise offsets that move an event into another UTC month.
    moved = [raw for _, raw, instant in items if instant is not None and isinstance(raw["occurred_at"], datetime)
             and raw["occurred_at"].month != instant.month]
    moved += [raw for _, raw, instant in items if instant is not None and isinstance(raw["occurred_at"], str)
              and datetime.fromisoformat(raw["occurred_at"].replace("Z", "+00:00")).month != instant.month]
    assert len(moved) >= 10

    results = record_in_batches(session, w, items, rng)
    assert len(results) == len(items) and not any(r.duplicate for r in results)
    # Retrying a sample of them later changes nothing.
    retry = rng.sample([raw for org_id, raw, _ in items if org_id == w.org.id], 50)
    assert all(r.duplicate for r in report_usage(session, actor=gw(w), events=retry, now=NOW))
    session.commit()

    rows = ledger_rows(engine)
    assert sorted(e.idempotency_key for e in rows) == sorted(raw["idempotency_key"] for _, raw, _ in items)
    by_key = {e.idempotency_key: e for e in rows}
    model_by_id = {m.id: m for m in w.models.values()}
    for org_id, raw, instant in items:
        e = by_key[raw["idempotency_key"]]
        assert e.org_id == org_id
        assert e.billed_tokens == ceil_rate(e.prompt_tokens, e.completion_tokens, model_by_id[e.model_id])
        if instant is not None:
            assert e.occurred_at == instant and e.occurred_at.utcoffset() == timedelta(0), raw

    expected, actual = expected_rollups(rows), actual_rollups(engine)
    for name in expected:
        assert actual[name] == expected[name], name
    assert len(actual["hourly"]) > 100 and len(actual["user_monthly"]) >= 20
    assert len({k[2] for k in actual["user_year_total"]}) >= 2  # the events straddle a new year

    # The hand-checked edge events of the finance user land in the UTC day and month.
    fin = w.finance.id
    assert {k[3]: v for k, v in actual["user_monthly"].items() if k[1] == fin} == {
        date(2024, 1, 1): (1, 1), date(2024, 2, 1): (1_010, 2), date(2024, 3, 1): (100_100, 2),
        date(2024, 4, 1): (10_000, 1)}
    assert {k[3]: v[0] for k, v in actual["user_daily"].items() if k[1] == fin} == {
        date(2024, 1, 31): 1, date(2024, 2, 1): 10, date(2024, 2, 29): 1_000, date(2024, 3, 1): 100,
        date(2024, 3, 31): 100_000, date(2024, 4, 1): 10_000}


# --- bulk_load ----------------------------------------------------------------------------------------

def _ledger_content(engine) -> list[tuple]:
    return sorted((e.idempotency_key, e.org_id, e.user_id, e.model_id, e.kind, e.prompt_tokens,
                   e.completion_tokens, e.billed_tokens, e.occurred_at, e.ip) for e in ledger_rows(engine))


def _wipe_usage(session):
    for table in (UsageEvent, *ROLLUP_TABLES):
        session.exec(delete(table))
    session.commit()


def _as_trusted_events(w, items, time_of) -> list[UsageEvent]:
    users = {u.id: u for u in (w.alice, w.bob, w.admin, w.carol, w.other_admin)}
    users.update({u.email: u for u in users.values()})
    out = []
    for org_id, raw, instant in items:
        model = w.models[raw["model"]]
        out.append(UsageEvent(
            idempotency_key=raw["idempotency_key"], org_id=org_id, user_id=users[raw["user"]].id, model_id=model.id,
            kind=raw["kind"], prompt_tokens=raw["prompt_tokens"], completion_tokens=raw["completion_tokens"],
            billed_tokens=billed_tokens(model, raw["prompt_tokens"], raw["completion_tokens"]),
            occurred_at=time_of(raw, instant), ip=raw.get("ip", ""), recorded_at=NOW))
    return out


def test_bulk_load_produces_the_same_rollups_as_report_usage(w, session, engine):
    rng = random.Random(11)
    items = random_events(rng, w, 250, "b")
    record_in_batches(session, w, items, rng)
    ledger_a, rollups_a = _ledger_content(engine), actual_rollups(engine)
    assert len(ledger_a) == 250 and all(rollups_a.values())

    _wipe_usage(session)
    wiped = actual_rollups(engine)
    assert len(wiped) == len(ROLLUP_TABLES) and not any(wiped.values())
    loaded = _as_trusted_events(w, items, lambda raw, instant: instant)  # aware UTC, as the models require
    assert bulk_load(session, loaded) == 250
    session.commit()

    assert _ledger_content(engine) == ledger_a
    assert actual_rollups(engine) == rollups_a


def test_bulk_load_with_non_utc_offsets_buckets_in_utc(w, session, engine):
    t = datetime(2024, 1, 31, 23, 30, tzinfo=UTC)  # 2024-02-01 05:00 in India
    items = [(w.org.id, ev("ist", w.alice.id, prompt=1000, completion=0), t)]
    bulk_load(session, _as_trusted_events(w, items, lambda raw, instant: instant.astimezone(IST)))
    session.commit()
    rows = ledger_rows(engine)
    assert rows[0].occurred_at == t  # the ledger stores the instant correctly …
    assert actual_rollups(engine) == expected_rollups(rows)  # … and the rollups should agree with it


# --- who may report usage -----------------------------------------------------------------------------

def test_gateway_cannot_record_for_another_orgs_user(w, session, engine):
    before = snapshot(engine)
    for ref in (w.carol.id, w.carol.email):
        with pytest.raises(NotFound) as err:
            report_usage(session, actor=gw(w), events=[ev("x", ref)], now=NOW)
        assert "unknown user" in err.value.message.lower()
        session.commit()
    assert snapshot(engine) == before
    # The same event through Org B's gateway is accepted (the refusal was about scope, not the payload).
    out = report_usage(session, actor=gw(w, w.other_org), events=[ev("x", w.carol.id)], now=NOW)
    session.commit()
    assert out[0].duplicate is False
    assert [e.org_id for e in ledger_rows(engine)] == [w.other_org.id]


@pytest.mark.parametrize("who", ["alice", "admin", "finance", "other_admin"])
def test_people_cannot_report_usage(who, w, session, engine):
    before = snapshot(engine)
    with pytest.raises(Forbidden) as err:
        report_usage(session, actor=w.actor(getattr(w, who)), events=[ev("x", w.alice.id)], now=NOW)
    assert err.value.message == "Only the gateway can report usage."
    session.commit()
    assert snapshot(engine) == before
