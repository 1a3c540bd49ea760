"""Distribute now on an org of N users (default 10,000): preview and execute times per strategy.

    .venv/bin/python bench/distribution_bench.py [--users 10000] [--url postgresql+psycopg://…]

Prints median / p95 per operation and the ratio against a baseline measured in the same run (loading the
org's users once). A fresh SQLite file is used unless --url is given (that database is wiped)."""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

import models  # noqa: E402,F401
from models import DistributionPolicy, Purchase, UsageUserDaily, User, utcnow  # noqa: E402
from services.core.actor import Actor, system_actor  # noqa: E402
from services.core.db import make_engine  # noqa: E402
from services.ops.migrate import upgrade  # noqa: E402
from services.orgs import organizations  # noqa: E402
from services.tokens.distribution import runs  # noqa: E402


def setup(url: str, n: int):
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(7)
    now = utcnow()
    with Session(engine) as s:
        org = organizations.create_org(s, actor=system_actor(), name="Bench", email_domain="bench.test")
        s.add(Purchase(org_id=org.id, tokens=n * 1_000_000, training_tokens=0, purchased_at=now - timedelta(days=60)))
        s.add(DistributionPolicy(org_id=org.id, kind="tokens", preset="custom", floor=200_000, ceiling=3_000_000,
                                 reserve_pct=5))
        s.flush()
        s.execute(insert(User), [dict(email=f"u{i}@bench.test", role="admin" if i == 0 else "member",
                                      org_id=org.id, paid=True, max_tokens=rng.randrange(200_000, 2_000_000),
                                      pinned=i % 50 == 1, excluded_from_automation=i % 97 == 2,
                                      created_at=now) for i in range(n)])
        ids = list(s.exec(select(User.id).where(User.org_id == org.id)))
        day = now.date()
        s.execute(insert(UsageUserDaily), [dict(org_id=org.id, user_id=u, kind="tokens", day=day - timedelta(days=d),
                                                billed_tokens=rng.randrange(0, 100_000), events=1)
                                           for u in ids for d in (1, 8)])
        s.commit()
        admin = s.exec(select(User).where(User.email == "u0@bench.test")).one()
        actor = Actor(admin.id, "admin", org.id, email=admin.email)
    return engine, org.id, actor


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def report(name: str, xs: list[float], base: float) -> None:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    med = statistics.median(xs)
    print(f"{name:<28} median {med * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   ratio {med / base:6.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--url")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    url = a.url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine, org_id, actor = setup(url, a.users)
    print(f"{engine.dialect.name}: org of {a.users:,} users")

    def load_users():
        with Session(engine) as s:
            s.exec(select(User).where(User.org_id == org_id)).all()
            s.rollback()

    base = statistics.median(timed(load_users, a.reps))
    report("baseline: load users", [base], base)
    for strategy in ("equal", "usage", "incremental"):
        def pv(strategy=strategy):
            with Session(engine) as s:
                runs.preview(s, actor=actor, kind="tokens", strategy=strategy)
                s.rollback()
        report(f"preview {strategy}", timed(pv, a.reps), base)
    strategies = iter(["usage", "equal"] * a.reps)
    changed = []

    def ex():
        with Session(engine) as s:
            run = runs.execute(s, actor=actor, kind="tokens", strategy=next(strategies))
            changed.append(len(run.changes))
            s.commit()
    report("execute (alternating)", timed(ex, a.reps), base)
    print(f"allocations changed per run: {changed}")


if __name__ == "__main__":
    main()
