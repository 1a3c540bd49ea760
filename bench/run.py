"""Measure the Token Statistics page and Activity Logs pages on a database built by bench/generate.py.

    python -m bench.run --url sqlite:////tmp/bench.db [--runs 20] [--baseline-runs 3]

For each figure: median and p95 over --runs runs, and the same question answered by the plainest correct SQL
(raw GROUP BY over the ledger / OFFSET paging), measured in the same run; ratio = baseline median / median.
The raw baselines take seconds each at 10M events, so they run --baseline-runs times (default 3).
Prints a Markdown table. No assertions: these are figures, not tests.
"""

from __future__ import annotations

import argparse
import os
import statistics as pystats
import time
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import make_url

from models import utcnow
from services import activity, statistics as st
from services.actor import Actor
from services.audit import verify_chain
from services.db import make_engine, read_scope

ADMIN = Actor(1, "admin", 1, email="user00000@bench.test")
SUPER = Actor(None, "super_admin", None, email="system")


CPU: dict[int, list[float]] = {}


def timed(engine, fn, runs: int) -> list[float]:
    """Wall-clock ms per run; the process's CPU ms per run go to CPU[id(out)] (on a loaded machine the wall
    clock includes waiting for a CPU; for SQLite, which runs in-process, CPU time is the work itself)."""
    out, cpu = [], []
    for _ in range(runs):
        with read_scope(engine) as db:
            t, c = time.perf_counter(), time.process_time()
            fn(db)
            out.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
    CPU[id(out)] = cpu
    return out


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(0.95 * len(xs)) - 1))]


def raw_stats_sql(pg: bool, start, end, month_first) -> list[str]:
    """The plainest correct SQL for every figure of the Statistics page, straight over the ledger."""
    day = "date_trunc('day', occurred_at)" if pg else "substr(occurred_at, 1, 10)"
    month = "date_trunc('month', occurred_at)" if pg else "substr(occurred_at, 1, 7)"
    rng = f"org_id = 1 AND occurred_at >= '{start}' AND occurred_at < '{end}'"
    return [
        f"SELECT {day}, kind, sum(billed_tokens), count(*) FROM usage_event WHERE {rng} GROUP BY 1, 2",
        f"SELECT model_id, sum(prompt_tokens), sum(completion_tokens), sum(billed_tokens), count(*) "
        f"FROM usage_event WHERE {rng} GROUP BY 1",
        f"SELECT user_id, sum(billed_tokens) AS b FROM usage_event WHERE {rng} GROUP BY 1 ORDER BY b DESC LIMIT 10",
        f"SELECT {month}, kind, sum(billed_tokens) FROM usage_event WHERE org_id = 1 AND occurred_at >= "
        f"'{month_first}' GROUP BY 1, 2",
        f"SELECT user_id, kind, sum(billed_tokens) FROM usage_event WHERE org_id = 1 AND occurred_at >= "
        f"'{utcnow().strftime('%Y-%m-01')}' GROUP BY 1, 2",
    ]


def deep_cursor(db, sql: str, offset: int) -> str:
    row = db.execute(text(sql + f" LIMIT 1 OFFSET {offset}")).one()
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 20)))
    p.add_argument("--baseline-runs", type=int, default=int(os.environ.get("BENCH_BASELINE_RUNS", 3)))
    p.add_argument("--skip-verify", action="store_true", help="do not walk the audit chain")
    p.add_argument("--deep", type=int, default=10_000, help="page number of the deep page (50 rows a page)")
    a = p.parse_args(argv)
    engine = make_engine(a.url)
    pg = make_url(a.url).get_backend_name() != "sqlite"
    label = "PostgreSQL" if pg else "SQLite"
    now = utcnow()
    with read_scope(engine) as db:
        n_events = db.execute(text("SELECT count(*) FROM usage_event")).scalar()
        n_audit = db.execute(text("SELECT count(*) FROM audit_event")).scalar()
    results = []

    def add(what, fn, baseline_name=None, baseline=None):
        xs = timed(engine, fn, a.runs)
        row = {"what": what, "median": pystats.median(xs), "p95": p95(xs), "baseline": baseline_name or "",
               "b_median": None, "cpu": pystats.median(CPU[id(xs)])}
        if baseline is not None and a.baseline_runs > 0:
            bs = timed(engine, baseline, a.baseline_runs)
            row["b_median"] = pystats.median(bs)
        results.append(row)
        print(f"  {what}: {row['median']:.2f} ms", flush=True)

    add("Calibration: SELECT 1 round trip (machine load)", lambda db: db.execute(text("SELECT 1")).all())
    for days, gran, name in ((90, "day", "90 days, by day"), (365, "month", "12 months, by month")):
        end = now.date()
        start = end - timedelta(days=days - 1)
        with read_scope(engine) as db:
            flt = st.make_filter(db, ADMIN, start=start, end=end)
        sqls = raw_stats_sql(pg, start.isoformat(), (end + timedelta(days=1)).isoformat(),
                             (now.date().replace(day=1) - timedelta(days=334)).replace(day=1).isoformat())

        def raw(db, sqls=sqls):
            for s in sqls:
                db.execute(text(s)).all()

        add(f"Statistics page, {name} (cards + 5 charts)",
            lambda db, flt=flt, gran=gran: st.statistics_page(db, actor=ADMIN, flt=flt, granularity=gran, now=now),
            "raw GROUP BY over the ledger (same figures)", raw)
    with read_scope(engine) as db:
        hflt = st.make_filter(db, ADMIN, start=now.date() - timedelta(days=6), end=now.date())
    add("Usage over time, 7 days by hour",
        lambda db: st.usage_over_time(db, actor=ADMIN, flt=hflt, granularity="hour"))

    deep_off = (a.deep - 1) * 50
    plain = activity.LogFilter()
    training = activity.LogFilter(kind="training")
    alloc = activity.LogFilter(action="allocation.set")
    with read_scope(engine) as db:
        uc = db.execute(text(f"SELECT occurred_at, id FROM usage_event WHERE org_id = 1 AND kind = 'training' "
                             f"ORDER BY occurred_at DESC, id DESC LIMIT 1 OFFSET {deep_off - 1}")).one()
        ucur = activity._encode(uc[0] if not isinstance(uc[0], str) else
                                __import__("datetime").datetime.fromisoformat(uc[0]).replace(
                                    tzinfo=__import__("datetime").timezone.utc), uc[1])
        n_alloc = db.execute(text("SELECT count(*) FROM audit_event WHERE org_id = 1 "
                                  "AND action = 'allocation.set'")).scalar()
        audit_page = max(2, min(a.deep, n_alloc // 50 - 1))  # the deepest page that filter has
        audit_off = (audit_page - 1) * 50
        ac = db.execute(text(f"SELECT seq FROM audit_event WHERE org_id = 1 AND action = 'allocation.set' "
                             f"ORDER BY seq DESC LIMIT 1 OFFSET {audit_off - 1}")).scalar()
        acur = activity._encode(None, ac)
        deep_all = db.execute(text(f"SELECT seq FROM audit_event WHERE org_id = 1 ORDER BY seq DESC "
                                   f"LIMIT 1 OFFSET {deep_off - 1}")).scalar()
        acur_all = activity._encode(None, deep_all)
    off_usage = (f"SELECT * FROM usage_event WHERE org_id = 1 AND kind = 'training' ORDER BY occurred_at DESC, "
                 f"id DESC LIMIT 50 OFFSET {deep_off}")
    off_audit = (f"SELECT * FROM audit_event WHERE org_id = 1 AND action = 'allocation.set' ORDER BY seq DESC "
                 f"LIMIT 50 OFFSET {audit_off}")
    off_audit_all = f"SELECT * FROM audit_event WHERE org_id = 1 ORDER BY seq DESC LIMIT 50 OFFSET {deep_off}"
    add("Usage log, page 1", lambda db: activity.usage_log(db, actor=ADMIN, flt=plain, limit=50))
    add(f"Usage log, page {a.deep:,}, kind = training (keyset)",
        lambda db: activity.usage_log(db, actor=ADMIN, flt=training, cursor=ucur, limit=50),
        "same page with OFFSET", lambda db: db.execute(text(off_usage)).all())
    add("Audit trail, page 1", lambda db: activity.audit_trail(db, actor=ADMIN, flt=plain, limit=50))
    add(f"Audit trail, page {a.deep:,} (keyset)",
        lambda db: activity.audit_trail(db, actor=ADMIN, flt=plain, cursor=acur_all, limit=50),
        "same page with OFFSET", lambda db: db.execute(text(off_audit_all)).all())
    add(f"Audit trail, page {audit_page:,} (its last), action = allocation.set (keyset)",
        lambda db: activity.audit_trail(db, actor=ADMIN, flt=alloc, cursor=acur, limit=50),
        "same page with OFFSET", lambda db: db.execute(text(off_audit)).all())
    add("Sign-ins, page 1", lambda db: activity.sign_ins(db, actor=ADMIN, flt=plain, limit=50))
    report, verify_ms = None, 0.0
    if not a.skip_verify:
        with read_scope(engine) as db:
            t = time.perf_counter()
            report = verify_chain(db)
            verify_ms = (time.perf_counter() - t) * 1000

    print(f"\n### {label}: {n_events:,} usage events, {n_audit:,} audit entries "
          f"({a.runs} runs each; raw baselines {a.baseline_runs} runs; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs)\n")
    print("| what | median ms | p95 ms | CPU ms (median) | baseline | baseline median ms | ratio |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for r in results:
        b = f"{r['b_median']:.1f}" if r["b_median"] is not None else ""
        ratio = f"{r['b_median'] / r['median']:.0f}×" if r["b_median"] is not None and r["median"] else ""
        print(f"| {r['what']} | {r['median']:.2f} | {r['p95']:.2f} | {r['cpu']:.2f} | {r['baseline'] if b else ''} | "
              f"{b} | {ratio} |")
    if report is not None:
        print(f"\nVerify audit chain: {report} in {verify_ms / 1000:.1f} s (one run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
