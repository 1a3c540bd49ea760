"""Measure the Token Statistics page and the Activity Logs pages on a database built by bench/generate.py.

    python -m bench.run --url sqlite:////tmp/bench.db [--runs 20] [--out bench/latest-sqlite.md]
                        [--baseline-runs 2] [--baseline-timeout 120] [--deep 10000] [--verify]

Each row is timed over --runs runs (median and p95 of the wall clock), with the CPU time of the run: this process's,
plus — PostgreSQL on this machine — the server backend's (from /proc/<pid>/schedstat), so that a loaded machine's
waiting for a CPU can be told apart from work. "Statistics page" rows time what the page's handler computes: the
filters, the model choices, every card and chart (services.analytics.statistics.load_page), the five Plotly figures
and their JSON. Baselines answer the same question with the plainest correct SQL (raw GROUP BY over the ledger,
OFFSET paging), measured in the same run; ratio = baseline median / median. A raw baseline stops after
--baseline-timeout seconds (then the ratio is a lower bound, "≥"), so a run is bounded in time: roughly (rows × runs
× tens of ms) + (baselines × baseline-runs × timeout) at most.

`main(argv)` returns 0 and writes the Markdown table to --out (and stdout); no assertions: figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics as pystats
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import make_url

from admin_panel.ui import charts
from models import utcnow
from services.analytics import audit_log, keyset, logs_filter, signin_log, usage_log
from services.analytics import statistics as st
from services.analytics.stats_filter import MAX_RANGE_DAYS
from services.core.actor import Actor
from services.core.audit import verify_chain
from services.core.db import make_engine, read_scope

ADMIN = Actor(1, "admin", 1, email="user00000@bench.test")
ALL_ORGS = Actor(None, "super_admin", None, email="system")
UTC = UTC


# ------------------------------------------------------------------------------------------------ timing
class Timer:
    """Runs a function of a read session and records wall ms, this process's CPU ms and (PostgreSQL on this
    machine) the server backend's CPU ms."""

    def __init__(self, engine, pg: bool):
        self.engine, self.pg = engine, pg

    def _backend_ns(self, db) -> int | None:
        if not self.pg:
            return 0
        pid = db.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                return int(f.read().split()[0])
        except OSError:  # the server runs elsewhere
            return None

    def one(self, fn, timeout: float | None = None) -> tuple[float, float, float | None, bool]:
        """(wall ms, client CPU ms, server CPU ms or None, finished) of one run."""
        with read_scope(self.engine) as db:
            if timeout is not None:
                self._set_timeout(db, timeout)
            s0 = self._backend_ns(db)
            t0, c0 = time.perf_counter(), time.process_time()
            done = True
            try:
                fn(db)
            except Exception as e:  # a raw baseline interrupted at its timeout
                if timeout is None or not _is_timeout(e):
                    raise
                done = False
            wall, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
            s1 = self._backend_ns(db) if done else None
        server = (s1 - s0) / 1e6 if s0 is not None and s1 is not None and self.pg else (0.0 if not self.pg else None)
        return wall, cpu, server, done

    def _set_timeout(self, db, seconds: float) -> None:
        if self.pg:
            db.connection().exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
        else:
            raw = db.connection().connection.driver_connection
            deadline = time.monotonic() + seconds
            raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 100_000)

    def many(self, fn, runs: int) -> dict:
        walls, cpus, servers = [], [], []
        for _ in range(runs):
            w, c, s, _ = self.one(fn)
            walls.append(w)
            cpus.append(c + (s or 0.0))
            servers.append(s)
        return {"median": pystats.median(walls), "p95": p95(walls), "cpu": pystats.median(cpus),
                "server_known": all(s is not None for s in servers)}


def _is_timeout(e: Exception) -> bool:
    msg = str(e).lower()
    return "interrupted" in msg or "statement timeout" in msg or "canceling statement" in msg or isinstance(
        getattr(e, "orig", None), sqlite3.OperationalError) and "interrupt" in msg


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(0.95 * len(xs)) - 1))]


# --------------------------------------------------------------------------------------- what is timed
def stats_page(actor: Actor, start, end, granularity: str, *, kind="all", model="all", user="", now=None):
    """Everything the Token Statistics handler computes for these filters, down to the figures' JSON."""

    def run(db):
        _, _, page = st.load_page(db, actor=actor, start=start, end=end, kind=kind, model=model, user_email=user,
                                  granularity=granularity, top=10, now=now)
        json.dumps(charts.figures(page, granularity, 10))

    return run


def raw_stats_sql(pg: bool, start: str, end: str, month_first: str, month: str, burn_since: str, pool_start: str,
                  granularity: str) -> list[str]:
    """The plainest correct SQL for every figure of the Statistics page, straight over the ledger."""
    trunc = {"day": ("date_trunc('day', occurred_at)", "substr(occurred_at, 1, 10)"),
             "month": ("date_trunc('month', occurred_at)", "substr(occurred_at, 1, 7)")}
    bucket = trunc[granularity][0 if pg else 1]
    by_month = trunc["month"][0 if pg else 1]
    rng = f"org_id = 1 AND occurred_at >= '{start}' AND occurred_at < '{end}'"
    return [
        # cards: pool, caps, used this month, pool used since the first unexpired purchase, burn window
        "SELECT sum(tokens), sum(training_tokens), min(purchased_at) FROM purchase WHERE org_id = 1 "
        f"AND (expires_at IS NULL OR expires_at > '{end}')",
        "SELECT sum(max_tokens), sum(max_training_tokens) FROM app_user WHERE org_id = 1",
        f"SELECT kind, sum(CASE WHEN occurred_at >= '{month}' THEN billed_tokens ELSE 0 END), sum(billed_tokens), "
        f"sum(CASE WHEN occurred_at >= '{burn_since}' THEN billed_tokens ELSE 0 END) FROM usage_event "
        f"WHERE org_id = 1 AND occurred_at >= '{pool_start}' GROUP BY kind",
        # charts
        f"SELECT {bucket}, kind, sum(billed_tokens), count(*) FROM usage_event WHERE {rng} GROUP BY 1, 2",
        f"SELECT {by_month}, kind, sum(billed_tokens) FROM usage_event WHERE org_id = 1 AND occurred_at >= "
        f"'{month_first}' GROUP BY 1, 2",
        f"SELECT u.email, sum(e.billed_tokens) AS b FROM usage_event e JOIN app_user u ON u.id = e.user_id "
        f"WHERE e.{rng} GROUP BY u.id, u.email ORDER BY b DESC LIMIT 10",
        f"SELECT m.name, sum(prompt_tokens), sum(completion_tokens), sum(billed_tokens), count(*) FROM usage_event e "
        f"JOIN ai_model m ON m.id = e.model_id WHERE e.{rng} GROUP BY m.name",
        f"SELECT u.email, u.max_tokens, coalesce(sum(e.billed_tokens), 0) AS used FROM app_user u LEFT JOIN "
        f"usage_event e ON e.user_id = u.id AND e.kind = 'tokens' AND e.occurred_at >= '{month}' "
        f"WHERE u.org_id = 1 GROUP BY u.id, u.email, u.max_tokens ORDER BY used DESC, u.max_tokens DESC LIMIT 30",
    ]


def _sql_runner(sqls: list[str]):
    def run(db):
        for s in sqls:
            db.execute(text(s)).all()
    return run


# --------------------------------------------------------------------------------------------- log pages
_LOGS = {"usage": ("usage_event", "occurred_at DESC, id DESC"),
         "signins": ("sign_in_event", "created_at DESC, id DESC"),
         "audit": ("audit_event", "seq DESC")}


def log_cases(deep: int, model_id: int, unused_model: int | None, rare_model: int | None, user_id: int,
              member: str | None) -> list:
    """(what, tab, filter, the same filter in SQL, page number) of every Activity Logs page timed: first and
    deep pages, each filter, and filters that match nothing or almost nothing."""
    lf = logs_filter.LogFilter
    cases = [
        ("Usage log, page 1", "usage", lf(), "", 1),
        (f"Usage log, page {deep:,}", "usage", lf(), "", deep),
        (f"Usage log, page {deep:,}, kind = training", "usage", lf(kind="training"), "kind = 'training'", deep),
        ("Usage log, page 1,000, one model", "usage", lf(model_id=model_id), f"model_id = {model_id}", 1000),
        ("Usage log, page 100, one (heavy) user", "usage", lf(user_id=user_id), f"user_id = {user_id}", 100),
        ("Audit trail, page 1", "audit", lf(), "", 1),
        (f"Audit trail, page {deep:,}", "audit", lf(), "", deep),
        ("Audit trail, last page of action = allocation.set", "audit", lf(action="allocation.set"),
         "action = 'allocation.set'", -1),
        ("Sign-ins, page 1", "signins", lf(), "", 1),
        ("Sign-ins, last page", "signins", lf(), "", -1),
        ("Sign-ins, last page of failures", "signins", lf(outcome="failure"), "success = false", -1),
    ]
    if rare_model is not None:
        cases += [("Usage log, page 1, a rare model (0.2 % of events)", "usage", lf(model_id=rare_model),
                   f"model_id = {rare_model}", 1),
                  ("Usage log, page 100, a rare model", "usage", lf(model_id=rare_model), f"model_id = {rare_model}",
                   100)]
    if unused_model is not None:
        cases.append(("Usage log, page 1, a model the org never used (no rows)", "usage", lf(model_id=unused_model),
                      f"model_id = {unused_model}", 1))
    if member is not None:
        cases.append(("Audit trail, page 1, one member (as target)", "audit", lf(user_id=int(member)),
                      f"(actor_id = {member} OR (target_type = 'user' AND target_id = '{member}'))", 1))
    cases.append(("Audit trail, page 1, free text (two words)", "audit", lf(text="allocation 4500000"), "", 1))
    return cases


def log_page(engine, tab: str, flt, where: str, page: int) -> tuple:
    """The timed page (keyset, from a cursor taken with OFFSET beforehand) and the same page read with OFFSET
    as its baseline (page 1 and free text: none). page -1: the filter's last full page."""
    table, order = _LOGS[tab]
    cond = "org_id = 1" + (f" AND {where}" if where else "")
    fetch = {"usage": usage_log.usage_log, "signins": signin_log.sign_ins,
             "audit": audit_log.audit_trail}[tab]
    with read_scope(engine) as db:
        if page == -1:
            n = db.execute(text(f"SELECT count(*) FROM {table} WHERE {cond}")).scalar()
            page = max(2, n // 50)
        cursor = None
        if page > 1:
            key = "NULL, seq" if tab == "audit" else order.replace(" DESC", "")
            row = db.execute(text(f"SELECT {key} FROM {table} WHERE {cond} ORDER BY {order} "
                                  f"LIMIT 1 OFFSET {(page - 1) * 50 - 1}")).one()
            when = row[0] if not isinstance(row[0], str) else datetime.fromisoformat(row[0]).replace(tzinfo=UTC)
            cursor = keyset.encode_cursor(when, row[1])

    def fn(db):
        fetch(db, actor=ADMIN, flt=flt, cursor=cursor, limit=50)

    baseline = None
    if page > 1 and (where or not flt.text):
        baseline = _sql_runner([f"SELECT * FROM {table} WHERE {cond} ORDER BY {order} LIMIT 50 "
                                f"OFFSET {(page - 1) * 50}"])
    return fn, baseline, page


# ---------------------------------------------------------------------------------------------- report
def _fmt_row(r: dict) -> str:
    if r.get("b_median") is None:
        base, ratio = "", ""
    else:
        ge = "≥ " if r["b_timed_out"] else ""
        base = f"{ge}{r['b_median']:,.0f}"
        ratio = f"{ge}{r['b_median'] / r['median']:,.0f}×" if r["median"] else ""
    return (f"| {r['what']} | {r['median']:.2f} | {r['p95']:.2f} | {r['cpu']:.2f} | {r.get('baseline', '')} | "
            f"{base} | {ratio} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Token Statistics and Activity Logs timings (Markdown table).")
    p.add_argument("--url", required=True, help="database built by bench/generate.py")
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 20)))
    p.add_argument("--out", help="also write the Markdown table to this file")
    p.add_argument("--baseline-runs", type=int, default=int(os.environ.get("BENCH_BASELINE_RUNS", 2)),
                   help="runs of each raw baseline (0: none)")
    p.add_argument("--baseline-timeout", type=float, default=float(os.environ.get("BENCH_BASELINE_TIMEOUT", 120)),
                   help="seconds after which a raw baseline run is stopped (its ratio is then a lower bound)")
    p.add_argument("--deep", type=int, default=10_000, help="page number of the deep pages (50 rows a page)")
    p.add_argument("--verify", action="store_true", help="also walk the whole audit chain once (minutes)")
    a = p.parse_args(argv)
    engine = make_engine(a.url)
    pg = make_url(a.url).get_backend_name() != "sqlite"
    timer = Timer(engine, pg)
    label = "PostgreSQL" if pg else "SQLite"
    started, load0 = time.monotonic(), os.getloadavg()
    now = utcnow()
    today = now.date()
    with read_scope(engine) as db:
        n_events = db.execute(text("SELECT count(*) FROM usage_event")).scalar()
        n_audit = db.execute(text("SELECT count(*) FROM audit_event")).scalar()
        pool_start = db.execute(text("SELECT min(purchased_at) FROM purchase WHERE org_id = 1")).scalar()
        model_id = db.execute(text("SELECT min(id) FROM ai_model")).scalar()
        heavy = db.execute(text("SELECT u.email FROM usage_user_monthly m JOIN app_user u ON u.id = m.user_id "
                                "WHERE m.org_id = 1 ORDER BY m.billed_tokens DESC LIMIT 1")).scalar()
    results: list[dict] = []

    def add(what, fn, baseline_name=None, baseline=None):
        row = {"what": what, **timer.many(fn, a.runs)}
        if baseline is not None and a.baseline_runs > 0:
            runs = [timer.one(baseline, a.baseline_timeout) for _ in range(a.baseline_runs)]
            row.update(baseline=baseline_name, b_median=pystats.median(r[0] for r in runs),
                       b_timed_out=not all(r[3] for r in runs))
        results.append(row)
        print(f"  {what}: {row['median']:.2f} ms", flush=True)

    add("Calibration: SELECT 1 round trip (machine load)", lambda db: db.execute(text("SELECT 1")).all())
    month = today.replace(day=1)
    month_first = month
    for _ in range(11):
        month_first = (month_first - timedelta(days=1)).replace(day=1)
    for days, gran, name in ((90, "day", "last 90 days by day"), (365, "month", "last 12 months by month")):
        start = today - timedelta(days=days - 1)
        sqls = raw_stats_sql(pg, start.isoformat(), (today + timedelta(days=1)).isoformat(), month_first.isoformat(),
                             month.isoformat(), (today - timedelta(days=7)).isoformat(),
                             (pool_start.date() if isinstance(pool_start, datetime) else str(pool_start)[:10]),
                             gran)
        add(f"Statistics page, {name}", stats_page(ADMIN, start, today, gran, now=now),
            "raw GROUP BY over the ledger (same figures)", _sql_runner(sqls))
    for what, args, kw in (
            ("last 7 days by hour", (today - timedelta(days=6), today, "hour"), {}),
            ("3 years (longest range) by week", (today - timedelta(days=MAX_RANGE_DAYS - 1), today, "week"), {}),
            ("200 days ending 40 days ago by week, training only",
             (today - timedelta(days=239), today - timedelta(days=40), "week"), {"kind": "training"}),
            ("last 12 months by month, one model", (today - timedelta(days=364), today, "month"), {"model": model_id}),
            ("last 12 months by month, one user", (today - timedelta(days=364), today, "month"), {"user": heavy}),
    ):
        add(f"Statistics page, {what}", stats_page(ADMIN, *args, now=now, **kw))
    add("Statistics page, last 90 days by day, all organizations (super admin)",
        stats_page(ALL_ORGS, today - timedelta(days=89), today, "day", now=now))

    with read_scope(engine) as db:
        unused = db.execute(text("SELECT max(id) FROM ai_model WHERE id NOT IN "
                                 "(SELECT model_id FROM usage_monthly WHERE org_id = 1)")).scalar()
        heavy_id = db.execute(text("SELECT id FROM app_user WHERE email = :e"), {"e": heavy}).scalar()
        rare = db.execute(text("SELECT model_id FROM usage_monthly WHERE org_id = 1 GROUP BY model_id "
                               "HAVING sum(events) * 100 < (SELECT sum(events) FROM usage_monthly WHERE org_id = 1) "
                               "ORDER BY sum(events) LIMIT 1")).scalar()  # under 1 % of the events
        member = db.execute(text("SELECT min(target_id) FROM audit_event WHERE org_id = 1 AND target_type = 'user' "
                                 "AND seq > (SELECT max(seq) - 1000 FROM audit_event)")).scalar()
    for what, tab, flt, where, depth in log_cases(a.deep, model_id, unused, rare, heavy_id, member):
        fn, baseline, n = log_page(engine, tab, flt, where, depth)
        add(what if depth != -1 else f"{what} (page {n:,})", fn, "same page with OFFSET" if baseline else None,
            baseline)
    verify = ""
    if a.verify:
        with read_scope(engine) as db:
            t = time.perf_counter()
            report = verify_chain(db)
            verify = f"\nVerify audit chain: {report} in {time.perf_counter() - t:.1f} s (one run)\n"

    load1 = os.getloadavg()
    cpu_note = ("this process + the PostgreSQL backend" if pg and all(r["server_known"] for r in results)
                else "this process (SQLite runs in it)" if not pg else "this process only (server not local)")
    lines = [
        f"### {label}: {n_events:,} usage events, {n_audit:,} audit entries",
        "",
        f"{a.runs} runs a row, raw baselines {a.baseline_runs} runs (stopped at {a.baseline_timeout:.0f} s); "
        f"load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end, on {os.cpu_count()} CPUs; "
        f"CPU = {cpu_note}; {time.monotonic() - started:.0f} s in all; {now:%Y-%m-%d %H:%M} UTC.",
        "",
        "| what | median ms | p95 ms | CPU ms (median) | baseline | baseline median ms | ratio |",
        "|---|---:|---:|---:|---|---:|---:|",
        *[_fmt_row(r) for r in results],
    ]
    table = "\n".join(lines) + "\n" + verify
    print("\n" + table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
