"""Import a 10,000-row CSV in batches (as the background handler does) while another admin keeps adding
users one by one; prints the import time and the other admin's latency (median/p95) idle vs during import.

    .venv/bin/python -m bench.bench_user_import [DB_URL]     (default: a fresh SQLite file)

A PostgreSQL URL is emptied first (DROP SCHEMA public CASCADE): use a scratch database.
"""

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta

from sqlalchemy import text

import models  # noqa: F401
from models import Role, utcnow
from services.core.actor import Actor, system_actor
from services.core.db import make_engine, session_scope
from services.ops.migrate import upgrade
from services.orgs import organizations
from services.users import accounts, user_import

ROWS = int(os.environ.get("BENCH_ROWS", "10000"))


def setup(url: str):
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as s:
        sysa = system_actor()
        org = organizations.create_org(s, actor=sysa, name="Bench", email_domain="bench.test")
        organizations.record_purchase(s, actor=system_actor(org.id), org_id=org.id, tokens=4_000_000_000,
                             training_tokens=0, purchased_at=utcnow() - timedelta(days=1),
                             expires_at=utcnow() + timedelta(days=300))
        a = accounts.create_user(s, actor=system_actor(org.id), email="a1@bench.test", role=Role.admin.value).value
        b = accounts.create_user(s, actor=system_actor(org.id), email="a2@bench.test", role=Role.admin.value).value
        actors = [Actor(u.id, u.role, u.org_id, email=u.email) for u in (a, b)]
    return engine, actors


def other_admin(engine, actor, stop: threading.Event, prefix: str, out: list[float]):
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        with session_scope(engine) as s:
            user_import.add_user(s, actor=actor, email=f"{prefix}{i}@bench.test")
        out.append(time.perf_counter() - t0)
        i += 1
        time.sleep(0.05)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine, (importer, other) = setup(url)
    data = ("email,name,role,max_tokens,max_train_tokens\n"
            + "".join(f"user{i}@bench.test,User {i},member,{200_000 + i},0\n" for i in range(ROWS))).encode()

    idle, stop = [], threading.Event()
    t = threading.Thread(target=other_admin, args=(engine, other, stop, "idle", idle))
    t.start()
    time.sleep(3)
    stop.set()
    t.join()

    busy, stop = [], threading.Event()
    t = threading.Thread(target=other_admin, args=(engine, other, stop, "busy", busy))
    t.start()
    t0 = time.perf_counter()
    rows = user_import.parse_csv(data)
    parsed = time.perf_counter() - t0
    created = 0
    batch_times = []
    for start in range(0, len(rows), user_import.BATCH_ROWS):
        b0 = time.perf_counter()
        with session_scope(engine) as s:
            batch = user_import.import_rows(s, actor=importer, rows=rows[start:start + user_import.BATCH_ROWS])
        batch_times.append(time.perf_counter() - b0)
        created += sum(r.status == "created" for r in batch.results)
    total = time.perf_counter() - t0
    stop.set()
    t.join()

    t0 = time.perf_counter()
    again = 0
    for start in range(0, len(rows), user_import.BATCH_ROWS):
        with session_scope(engine) as s:
            again += sum(r.status == "created" for r in import_rows_safe(s, importer, rows, start))
    rerun = time.perf_counter() - t0

    ms = lambda x: f"{1000 * x:.0f} ms"  # noqa: E731
    print(f"backend: {engine.dialect.name}; rows: {ROWS}; created: {created}; re-run created: {again}")
    print(f"parse: {ms(parsed)}; import total: {total:.1f} s ({ROWS / total:.0f} rows/s); "
          f"batch of {user_import.BATCH_ROWS}: median {ms(statistics.median(batch_times))}, "
          f"p95 {ms(pct(batch_times, 0.95))}; idempotent re-run: {rerun:.1f} s")
    print(f"other admin add_user idle: median {ms(statistics.median(idle))}, p95 {ms(pct(idle, 0.95))} (n={len(idle)})")
    print(f"other admin add_user during import: median {ms(statistics.median(busy))}, p95 {ms(pct(busy, 0.95))} "
          f"(n={len(busy)}); ratio p95 {pct(busy, 0.95) / pct(idle, 0.95):.1f}x")


def import_rows_safe(s, actor, rows, start):
    return user_import.import_rows(s, actor=actor, rows=rows[start:start + user_import.BATCH_ROWS]).results


if __name__ == "__main__":
    main()
