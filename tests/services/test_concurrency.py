"""Real threads against the real database (SQLite and, with TEST_DATABASE_URL, PostgreSQL): overlapping
usage retries must count every event exactly once, and concurrent audit writers must form one linear chain.

Errors inside the threads are collected and reported as they are — nothing is retried here.
"""

import math
import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace

from sqlmodel import Session, select

from models import AuditEvent, AuditHead, UsageDaily, UsageEvent, UsageHourly, UsageUserDaily, UsageUserMonthly
from services.core import audit
from services.core.actor import system_actor
from services.gateway.reports import report_usage
from services.orgs import catalog
from services.usage.ledger import gateway_actor
from tests.services.rollup_helpers import actual_statistics_rollups, expected_statistics_rollups

NOW = datetime(2024, 4, 2, tzinfo=UTC)


def run_together(n: int, fn) -> list:
    """fn(i, barrier) in n real threads that pass a barrier before doing any work."""
    barrier = threading.Barrier(n, timeout=60)
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda i: fn(i, barrier), range(n)))


# --- usage: overlapping idempotency keys --------------------------------------------------------------

N_THREADS, PER_THREAD, N_KEYS = 20, 50, 300


def _payloads(w, models) -> dict[str, dict]:
    """300 distinct events; each key always carries the same payload. Times cluster around the
    March → April boundary so that threads hit the same rollup rows."""
    rng = random.Random(42)
    people = (w.alice, w.bob, w.admin, w.finance)
    start = datetime(2024, 3, 31, 22, 0, tzinfo=UTC)
    times = [start + timedelta(minutes=15 * i) for i in range(16)] + [
        datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    out = {}
    for k in range(N_KEYS):
        out[f"c-{k:03d}"] = {
            "idempotency_key": f"c-{k:03d}", "user": rng.choice(people).id, "model": rng.choice(models).name,
            "prompt_tokens": rng.randrange(1, 10**9), "completion_tokens": rng.randrange(0, 10**6),
            "kind": rng.choice(("tokens", "training")), "occurred_at": rng.choice(times)}
    return out


def _expected_rollups(events, model_by_name, org_id) -> dict:
    daily, hourly = defaultdict(lambda: [0, 0, 0, 0]), defaultdict(lambda: [0, 0])
    monthly, user_daily = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])

    def billed_of(e):
        model = model_by_name[e["model"]]
        return math.ceil(Fraction(e["prompt_tokens"] * model.prompt_rate_milli
                                  + e["completion_tokens"] * model.completion_rate_milli, 1000))

    for e in events:
        model = model_by_name[e["model"]]
        billed = billed_of(e)
        t, kind, user = e["occurred_at"], e["kind"], e["user"]
        for acc, key, amounts in (
            (daily, (org_id, model.id, kind, t.date()), (e["prompt_tokens"], e["completion_tokens"], billed, 1)),
            (hourly, (org_id, kind, t.replace(minute=0, second=0, microsecond=0)), (billed, 1)),
            (monthly, (org_id, user, kind, date(t.year, t.month, 1)), (billed, 1)),
            (user_daily, (org_id, user, kind, t.date()), (billed, 1)),
        ):
            for i, v in enumerate(amounts):
                acc[key][i] += v
    ledger = [SimpleNamespace(org_id=org_id, user_id=e["user"], model_id=model_by_name[e["model"]].id, kind=e["kind"],
                              occurred_at=e["occurred_at"], prompt_tokens=e["prompt_tokens"],
                              completion_tokens=e["completion_tokens"], billed_tokens=billed_of(e)) for e in events]
    return {**{name: {k: tuple(v) for k, v in acc.items()}
               for name, acc in (("daily", daily), ("hourly", hourly), ("monthly", monthly),
                                 ("user_daily", user_daily))},
            **expected_statistics_rollups(ledger)}


def _actual_rollups(session) -> dict:
    return {
        "daily": {(r.org_id, r.model_id, r.kind, r.day): (r.prompt_tokens, r.completion_tokens, r.billed_tokens,
                                                          r.events) for r in session.exec(select(UsageDaily))},
        "hourly": {(r.org_id, r.kind, r.hour): (r.billed_tokens, r.events) for r in session.exec(select(UsageHourly))},
        "monthly": {(r.org_id, r.user_id, r.kind, r.month): (r.billed_tokens, r.events)
                    for r in session.exec(select(UsageUserMonthly))},
        "user_daily": {(r.org_id, r.user_id, r.kind, r.day): (r.billed_tokens, r.events)
                       for r in session.exec(select(UsageUserDaily))},
        **actual_statistics_rollups(session),
    }


def test_overlapping_usage_retries_count_each_event_once(engine, world, session):
    models = catalog.ensure_default_models(session)[:3]
    session.commit()
    payloads = _payloads(world, models)
    keys = sorted(payloads)
    org_id = world.org.id

    def worker(i, barrier):
        rng = random.Random(1000 + i)
        mine = rng.sample(keys, PER_THREAD)
        results, errors = [], []
        barrier.wait()
        with Session(engine) as s:
            j = 0
            while j < len(mine):
                batch = mine[j:j + rng.randint(1, 6)]
                j += len(batch)
                try:
                    results += report_usage(s, actor=gateway_actor(org_id), now=NOW,
                                            events=[dict(payloads[k]) for k in batch])
                    s.commit()
                except Exception as exc:  # reported below, never retried
                    s.rollback()
                    errors.append(f"thread {i}, batch {batch}: {type(exc).__name__}: {exc}")
        return mine, results, errors

    outcomes = run_together(N_THREADS, worker)
    errors = [e for _, _, errs in outcomes for e in errs]
    assert errors == [], f"{len(errors)} batches failed:\n" + "\n".join(errors[:10])

    sent = Counter(k for mine, _, _ in outcomes for k in mine)
    distinct = set(sent)
    assert sum(sent.values()) == N_THREADS * PER_THREAD
    assert max(sent.values()) >= 4 and len(distinct) < N_THREADS * PER_THREAD / 3  # the overlap is heavy

    rows = {e.idempotency_key: e for e in session.exec(select(UsageEvent)).all()}
    assert set(rows) == distinct

    # Every key was acknowledged as new exactly once; every acknowledgement points at the one ledger row.
    results = [r for _, res, _ in outcomes for r in res]
    assert len(results) == N_THREADS * PER_THREAD
    new = Counter(r.idempotency_key for r in results if not r.duplicate)
    assert new == Counter(distinct)
    for r in results:
        assert (r.event_id, r.billed_tokens) == (rows[r.idempotency_key].id, rows[r.idempotency_key].billed_tokens)
    for key, row in rows.items():
        p = payloads[key]
        assert (row.user_id, row.kind, row.prompt_tokens, row.completion_tokens, row.occurred_at) == (
            p["user"], p["kind"], p["prompt_tokens"], p["completion_tokens"], p["occurred_at"])

    # Rollups equal the sums over the distinct events, bucket by bucket and in total.
    expected = _expected_rollups([payloads[k] for k in distinct], {m.name: m for m in models}, org_id)
    actual = _actual_rollups(session)
    for name in expected:
        assert actual[name] == expected[name], name
    total_billed = sum(v[2] for v in expected["daily"].values())
    for name, col in (("daily", 2), ("hourly", 0), ("monthly", 0), ("user_daily", 0)):
        assert sum(v[col] for v in actual[name].values()) == total_billed, name
        assert sum(v[-1] for v in actual[name].values()) == len(distinct), name
    session.commit()


# --- audit chain: concurrent writers ------------------------------------------------------------------

N_WRITERS, PER_WRITER = 16, 12


def test_concurrent_audit_writers_form_one_intact_chain(engine, session):
    def writer(i, barrier):
        actor = system_actor()
        errors = []
        barrier.wait()
        with Session(engine, expire_on_commit=False) as s:  # one session, one transaction per entry
            for j in range(PER_WRITER):
                try:
                    audit.record(s, actor, "test.concurrent", target_type="writer", target_id=f"{i}-{j}",
                                 after={"writer": i, "n": j})
                    s.commit()
                except Exception as exc:  # reported below, never retried
                    s.rollback()
                    errors.append(f"writer {i}, entry {j}: {type(exc).__name__}: {exc}")
        return errors

    errors = [e for errs in run_together(N_WRITERS, writer) for e in errs]
    assert errors == [], f"{len(errors)} audit writes failed:\n" + "\n".join(errors[:10])

    total = N_WRITERS * PER_WRITER
    report = audit.verify_chain(session)
    assert (report.intact, report.entries) == (True, total), str(report)

    entries = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert sorted(e.target_id for e in entries) == sorted(f"{i}-{j}" for i in range(N_WRITERS)
                                                          for j in range(PER_WRITER))
    assert len({e.hash for e in entries}) == total
    # Each writer's own entries appear in the order it wrote them, and the writers really interleaved.
    for i in range(N_WRITERS):
        assert [e.after["n"] for e in entries if e.after["writer"] == i] == list(range(PER_WRITER))
    switches = sum(1 for a, b in zip(entries, entries[1:], strict=False) if a.after["writer"] != b.after["writer"])
    assert switches >= N_WRITERS
    head = session.get(AuditHead, 1)
    assert (head.seq, head.hash) == (total, entries[-1].hash)
    session.commit()
