"""The User Management table for an org of 100,000 users (issue 4: it must stay responsive): page 1, a deep
page, a search, a filter and sorts (a user column and a usage column) through `services/users/user_table.py`,
against the plainest correct way to answer the same question — load every user of the org with its usage
totals and filter / sort / slice in Python — measured in the same run.

    python -m bench.user_table_bench --url sqlite:////tmp/ut.db [--users 100000] [--events 500000] [--runs 10]
    python -m bench.user_table_bench --url postgresql+psycopg://postgres@127.0.0.1:5432/<scratch db>   (emptied!)

The database is rebuilt by bench/generate.py (one org, N users, a year of usage and its rollups) unless
--reuse is given. Prints a Markdown table: median and p95 over --runs, baseline median (over --baseline-runs),
ratio = baseline / median. No assertions: figures, not tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from sqlalchemy import func, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from bench import generate
from models import User, month_start, utcnow
from models.usage import UsageUserMonthly
from services.core.actor import Actor
from services.core.db import make_engine, read_scope
from services.users import user_table

ADMIN = Actor(1, "admin", 1, email="user00000@bench.test")  # generate.py: user 1 is the big org's admin
PAGE_SIZE = 50


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))]


def timed(engine, fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with read_scope(engine) as db:
            t = time.perf_counter()
            fn(db)
            out.append((time.perf_counter() - t) * 1000)
    return out


def baseline(db, *, search: str = "", role: str = "any", mfa: str = "any", sort: str = "id",
             descending: bool = False, page: int = 1) -> list:
    """Every user of the org and its usage totals into Python, then filter, sort and slice there."""
    cur = month_start(utcnow())
    usage: dict[int, list[int]] = {}
    for uid, kind, month, billed in db.exec(select(UsageUserMonthly.user_id, UsageUserMonthly.kind,
                                                   UsageUserMonthly.month, UsageUserMonthly.billed_tokens)
                                            .where(UsageUserMonthly.org_id == ADMIN.org_id)).all():
        if kind == "tokens":
            u = usage.setdefault(uid, [0, 0])
            u[1] += billed
            if month == cur:
                u[0] += billed
    rows = db.exec(select(User).where(User.org_id == ADMIN.org_id)).all()
    words = search.lower().split()
    keep = [u for u in rows
            if all(w in u.email.lower() or w in (u.name or "").lower() for w in words)
            and (role == "any" or u.role == role) and (mfa == "any" or u.mfa_enabled == (mfa == "yes"))]
    key = {"id": lambda u: u.id, "name": lambda u: ((u.name or ""), u.id),
           "used_month": lambda u: (usage.get(u.id, (0, 0))[0], u.id)}[sort]
    keep.sort(key=key, reverse=descending)
    return keep[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="a scratch database (emptied unless --reuse)")
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 10)))
    p.add_argument("--baseline-runs", type=int, default=3)
    p.add_argument("--reuse", action="store_true", help="measure the database as it is")
    a = p.parse_args(argv)
    label = "PostgreSQL" if make_url(a.url).get_backend_name() != "sqlite" else "SQLite"
    if not a.reuse:
        generate.main(["--url", a.url, "--users", str(a.users), "--events", str(a.events), "--audit", "0",
                       "--sign-ins", "0"])
    engine = make_engine(a.url)
    with read_scope(engine) as db:
        n_users = db.exec(select(func.count()).select_from(User).where(User.org_id == ADMIN.org_id)).one()
    deep = max(1, int(n_users * 0.95) // PAGE_SIZE)
    cases = [
        ("page 1 (by id)", {}, {}),
        (f"page {deep:,} (deep, OFFSET {(deep - 1) * PAGE_SIZE:,})", {"page": deep}, {"page": deep}),
        ("search \"user0420\" (email/name contains)", {"search": "user0420"}, {"search": "user0420"}),
        ("filter role = member, MFA = no, page 1", {"role": "member", "mfa": "no"}, {"role": "member", "mfa": "no"}),
        ("sort by name, descending, page 1", {"sort": "name", "descending": True},
         {"sort": "name", "descending": True}),
        ("sort by used this month, descending, page 1", {"sort": "used_month", "descending": True},
         {"sort": "used_month", "descending": True}),
    ]
    rows = [("calibration: SELECT 1", timed(engine, lambda db: db.execute(text("SELECT 1")).all(), a.runs), None)]
    for what, kw, base_kw in cases:
        xs = timed(engine, lambda db, kw=kw: user_table.list_users(db, actor=ADMIN, page_size=PAGE_SIZE, **kw),
                   a.runs)
        bs = timed(engine, lambda db, kw=base_kw: baseline(db, **kw), a.baseline_runs) if a.baseline_runs else None
        rows.append((what, xs, bs))
        print(f"  {what}: {statistics.median(xs):.1f} ms", flush=True)
    engine.dispose()
    print(f"\n### User table, {label}: {n_users:,} users in one org, {PAGE_SIZE} rows a page "
          f"({a.runs} runs; baseline {a.baseline_runs} runs; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)\n")
    print("| what | median ms | p95 ms | baseline: all users into Python, median ms | ratio |")
    print("|---|---:|---:|---:|---:|")
    for what, xs, bs in rows:
        med = statistics.median(xs)
        b = statistics.median(bs) if bs else None
        print(f"| {what} | {med:.2f} | {pct(xs, 95):.2f} | {'' if b is None else f'{b:.0f}'} | "
              f"{'' if b is None else f'{b / med:.0f}×'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
