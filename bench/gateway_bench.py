"""Gateway API throughput and latency through the real ASGI app (httpx ASGITransport, in-process, no network):
POST /usage single and batched (1,000 events), POST /authorize (with reservation), at 1, 16 and 64 concurrent
clients, plus the ratio of batched ingest to a plain executemany insert of the same rows in the same run.

    .venv/bin/python bench/gateway_bench.py sqlite
    .venv/bin/python bench/gateway_bench.py postgresql+psycopg://postgres@127.0.0.1:5432/<scratch db>   (emptied!)
"""

import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("STEWARD_SECRET_KEY", "x6y0Kq0gk9m8R2bQ0d4rJ3nV5uP7sT1wZ2cE4fG6hI8=")
os.environ["STEWARD_GATEWAY_RATE_BACKEND"] = "db"

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from admin_panel.api import create_api  # noqa: E402
from models import Role, UsageEvent, utcnow  # noqa: E402
from services import api_keys, catalog, orgs, settings, users  # noqa: E402
from services.actor import system_actor  # noqa: E402
from services.db import make_engine  # noqa: E402
from services.migrate import upgrade  # noqa: E402

settings.GATEWAY_RATE_LIMIT = 10**9
N_USERS = 50
SINGLE = {1: 200, 16: 320, 64: 640}  # requests per run
BATCHES = {1: 3, 16: 16, 64: 64}


def fresh_db(arg: str) -> str:
    if arg == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    eng = make_engine(arg)
    with eng.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    return arg


def seed(engine):
    with Session(engine, expire_on_commit=False) as s:
        sysa = system_actor()
        org = orgs.create_org(s, actor=sysa, name="Bench", email_domain="bench.test")
        a = system_actor(org.id)
        orgs.record_purchase(s, actor=a, org_id=org.id, tokens=2_000_000 * 10**6, training_tokens=0,
                             purchased_at=utcnow() - timedelta(days=1), expires_at=utcnow() + timedelta(days=300))
        admin = users.create_user(s, actor=a, email="admin@bench.test", role=Role.admin.value).value
        ids = [users.create_user(s, actor=a, email=f"u{i}@bench.test", max_tokens=10**15).value.id
               for i in range(N_USERS)]
        catalog.ensure_default_models(s)
        actor = replace(system_actor(org.id), user_id=None)
        key = api_keys.create_key(s, actor=actor, name="bench")
        s.commit()
        return key.secret, ids, admin


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def drive(client, clients: int, total: int, make_request):
    """`total` requests spread over `clients` concurrent tasks; returns (wall s, latencies ms)."""
    lat, errors = [], []
    per = max(1, total // clients)

    async def one(c):
        for j in range(per):
            method, path, body = make_request(c, j)
            t = time.perf_counter()
            try:
                r = await client.request(method, path, json=body)
                ok = r.status_code == 200
            except Exception as exc:  # counted and shown, not retried
                ok, r = False, exc
            if ok:
                lat.append((time.perf_counter() - t) * 1000)
            else:
                errors.append(str(getattr(r, "text", r))[:120])

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in range(clients)))
    return time.perf_counter() - t0, lat, errors


def line(name, clients, per_request, result):
    wall, lat, errors = result
    if not lat:
        print(f"{name:<22} {clients:>3} clients: all {len(errors)} requests failed: {errors[:1]}")
        return
    print(f"{name:<22} {clients:>3} clients: {len(lat) * per_request / wall:>10,.0f} events/s   median "
          f"{statistics.median(lat):8.2f} ms   p95 {pct(lat, 95):8.2f} ms   p99 {pct(lat, 99):8.2f} ms   "
          f"({len(lat)} ok, {len(errors)} failed{': ' + errors[0] if errors else ''})")


async def main(arg: str):
    url = fresh_db(arg)
    upgrade(url)
    engine = make_engine(url)
    secret, ids, _ = seed(engine)
    app = create_api(engine, worker=False)
    transport = httpx.ASGITransport(app=app)
    print(f"# {engine.dialect.name}  ({url.split('@')[-1]})")
    run_id = [0]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench/api/v1",
                                 headers={"Authorization": f"Bearer {secret}"}, timeout=600) as client:
        def ev(c, j, k=0):
            return {"idempotency_key": f"r{run_id[0]}-{c}-{j}-{k}", "user": ids[(c + j + k) % N_USERS],
                    "model": "gpt-4o-mini", "prompt_tokens": 100 + j, "completion_tokens": 20, "ip": "10.0.0.1"}

        for clients in (1, 16, 64):
            run_id[0] += 1
            total = SINGLE[clients]
            line("usage single", clients, 1, await drive(client, clients, total,
                                                         lambda c, j: ("POST", "/usage", ev(c, j))))
        for clients in (1, 16, 64):
            run_id[0] += 1
            line("usage batch x1000", clients, 1000, await drive(client, clients, BATCHES[clients], lambda c, j: (
                "POST", "/usage", {"events": [ev(c, j, k) for k in range(1000)]})))
        for clients in (1, 16, 64):
            line("authorize (reserve)", clients, 1, await drive(client, clients, SINGLE[clients], lambda c, j: (
                "POST", "/authorize", {"user": ids[(c * 7 + j) % N_USERS], "model": "gpt-4o", "tokens": 1000,
                                       "reserve": True})))

    # Baseline: a plain executemany insert of 10,000 equivalent rows into a copy of the ledger table.
    cols = [c.name for c in UsageEvent.__table__.columns if c.name != "id"]
    now = utcnow()
    rows = [{"idempotency_key": f"base-{i}", "org_id": 1, "user_id": ids[i % N_USERS], "model_id": 1, "kind": "tokens",
             "prompt_tokens": 100, "completion_tokens": 20, "billed_tokens": 27, "occurred_at": now, "ip": "10.0.0.1",
             "recorded_at": now} for i in range(10_000)]
    with engine.begin() as c:
        c.execute(text("CREATE TABLE bench_plain AS SELECT * FROM usage_event WHERE 1 = 0"))
    t0 = time.perf_counter()
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO bench_plain ({', '.join(cols)}) VALUES ({', '.join(':' + x for x in cols)})"), rows)
    base = len(rows) / (time.perf_counter() - t0)
    print(f"{'plain executemany':<22}   1 client : {base:>10,.0f} rows/s (baseline for the batched-ingest ratio)")
    engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite"))
