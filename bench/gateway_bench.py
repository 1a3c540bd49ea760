"""Gateway API throughput and latency over real HTTP: the ASGI app Reflex mounts (`admin_panel.api`) served by
uvicorn (or granian) in a separate process on loopback, driven by a small keep-alive HTTP/1.1 client here
(asyncio streams: it costs the shared CPUs far less than httpx would).

    .venv/bin/python -m bench.gateway_bench                                   # SQLite (temp file)
    .venv/bin/python -m bench.gateway_bench --url sqlite --url postgresql+psycopg://postgres@127.0.0.1:5432/<scratch>
    .venv/bin/python -m bench.gateway_bench --scale 0.2 --server granian --out /tmp/gateway.md

A PostgreSQL database given here is EMPTIED (schema dropped). For each database: POST /usage single and batched
(1,000 events a request), POST /authorize (a plain check), and the gateway's cycle (POST /authorize with a
reservation, then the POST /usage that settles it) at 1, 16 and 64 concurrent clients: requests, events/s,
median / p95 / p99 latency; a 404 round trip through the same server (the HTTP
stack's own ceiling); and a plain DB-API executemany of the same ledger rows into a copy of the ledger table
(with its indexes, and bare) in the same run — the batched-ingest ratio. No assertions: figures, not tests.
`rows(...)` returns the figures for a `make bench` runner; `--out` writes them as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STEWARD_SECRET_KEY", "x6y0Kq0gk9m8R2bQ0d4rJ3nV5uP7sT1wZ2cE4fG6hI8=")

from bench.gateway_server import free_port  # noqa: E402

N_USERS = 50
CLIENTS = (1, 16, 64)
# Requests per run at --scale 1 (batches hold 1,000 events each).
SINGLE = {1: 300, 16: 2000, 64: 4000}
BATCHES = {1: 6, 16: 32, 64: 64}
AUTH = {1: 300, 16: 2000, 64: 4000}
BATCH_SIZE = 1000


@dataclass
class Row:
    db: str
    what: str
    clients: int
    requests: int = 0
    ok: int = 0
    failed: int = 0
    events: int = 0
    seconds: float = 0.0
    per_s: float = 0.0
    median_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
    note: str = ""


# ------------------------------------------------------------------------------------------ HTTP client
class Conn:
    """One keep-alive HTTP/1.1 connection (Content-Length bodies; chunked answers are read too)."""

    def __init__(self, port: int, secret: str):
        self.port, self.auth = port, f"Authorization: Bearer {secret}\r\n".encode()

    async def open(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n").encode() + self.auth + b"\r\n"
        self.w.write(head + body)
        raw = await self.r.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        headers = raw.lower()
        at = headers.find(b"content-length:")
        if at >= 0:
            n = int(headers[at + 15:headers.index(b"\r\n", at)])
            return status, await self.r.readexactly(n)
        out = b""
        while True:  # chunked
            size = int((await self.r.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.r.readexactly(size + 2)
            if size == 0:
                return status, out
            out += chunk[:-2]

    def close(self):
        self.w.close()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


async def drive(port: int, secret: str, clients: int, bodies: list[list[tuple[str, str, bytes]]], check=None,
                ok_status: int = 200):
    """bodies[c] = the requests client c sends one after another. Returns (wall s, latencies ms, errors)."""
    conns = [await Conn(port, secret).open() for _ in range(clients)]
    lat: list[float] = []
    errors: list[str] = []

    async def one(c: int):
        conn = conns[c]
        for method, path, body in bodies[c]:
            t = time.perf_counter()
            try:
                status, answer = await conn.call(method, path, body)
            except Exception as exc:  # counted and shown, not retried
                errors.append(f"{type(exc).__name__}: {exc}"[:160])
                conn.close()
                conn = await Conn(port, secret).open()
                continue
            ms = (time.perf_counter() - t) * 1000
            problem = None if status == ok_status else f"HTTP {status}: {answer[:140]!r}"
            if problem is None and check is not None:
                problem = check(body, answer)
            if problem:
                errors.append(problem)
            else:
                lat.append(ms)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in range(clients)))
    wall = time.perf_counter() - t0
    for conn in conns:
        conn.close()
    return wall, lat, errors


async def cycle(port: int, secret: str, clients: int, per: int, ids: list[int]):
    """What a gateway does per call: authorize with a reservation, then report the usage that settles it.
    Returns the (wall, latencies, errors) of the authorizations and of the settling reports."""
    conns = [await Conn(port, secret).open() for _ in range(clients)]
    lat_a, lat_s, err_a, err_s = [], [], [], []

    async def one(c: int):
        for j in range(per):
            user = ids[(c * 7 + j) % len(ids)]
            t = time.perf_counter()
            status, answer = await conns[c].call("POST", "/api/v1/authorize", json.dumps(
                {"user": user, "model": "gpt-4o", "tokens": 1000, "reserve": True}).encode())
            lat_a.append((time.perf_counter() - t) * 1000)
            d = json.loads(answer) if status == 200 else {}
            if not d.get("allowed"):
                lat_a.pop()
                err_a.append(f"HTTP {status}: {answer[:140]!r}")
                continue
            t = time.perf_counter()
            status, answer = await conns[c].call("POST", "/api/v1/usage", json.dumps(
                {"idempotency_key": f"cyc-{clients}-{c}-{j}", "user": user, "model": "gpt-4o", "prompt_tokens": 700,
                 "completion_tokens": 100, "reservation_id": d["reservation_id"]}).encode())
            if status == 200 and json.loads(answer)["recorded"] == 1:
                lat_s.append((time.perf_counter() - t) * 1000)
            else:
                err_s.append(f"HTTP {status}: {answer[:140]!r}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in range(clients)))
    wall = time.perf_counter() - t0
    for conn in conns:
        conn.close()
    return (wall, lat_a, err_a), (wall, lat_s, err_s)


def to_row(db: str, what: str, clients: int, per_request: int, result, note: str = "") -> Row:
    wall, lat, errors = result
    row = Row(db, what, clients, requests=len(lat) + len(errors), ok=len(lat), failed=len(errors),
              events=len(lat) * per_request, seconds=wall, per_s=len(lat) * per_request / wall if wall else 0.0,
              note=(errors[0] if errors else note))
    if lat:
        row.median_ms, row.p95_ms, row.p99_ms = statistics.median(lat), pct(lat, 95), pct(lat, 99)
    return row


# ------------------------------------------------------------------------------------------ database
def fresh_db(url: str) -> tuple[str, str]:
    """(SQLAlchemy URL, label) of an empty, migrated database ("sqlite": a new temp file)."""
    from bench.generate import _fresh

    if url == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='gwbench-')}/bench.db"
    _fresh(url)
    return url, ("SQLite" if url.startswith("sqlite") else "PostgreSQL")


def seed(engine) -> tuple[str, list[int]]:
    from sqlmodel import Session

    from models import Role, utcnow
    from services.core.actor import system_actor
    from services.gateway import api_keys
    from services.orgs import catalog, organizations
    from services.users import accounts

    with Session(engine, expire_on_commit=False) as s:
        org = organizations.create_org(s, actor=system_actor(), name="Bench", email_domain="bench.test")
        a = system_actor(org.id)
        organizations.record_purchase(s, actor=a, org_id=org.id, tokens=2_000_000 * 10**6, training_tokens=0,
                             purchased_at=utcnow() - timedelta(days=1), expires_at=utcnow() + timedelta(days=300))
        accounts.create_user(s, actor=a, email="admin@bench.test", role=Role.admin.value)
        ids = [accounts.create_user(s, actor=a, email=f"u{i}@bench.test", max_tokens=10**15).value.id
               for i in range(N_USERS)]
        catalog.ensure_default_models(s)
        key = api_keys.create_key(s, actor=replace(system_actor(org.id), user_id=None), name="bench")
        s.commit()
        return key.secret, ids


def start_server(url: str, port: int, server: str) -> subprocess.Popen:
    env = {**os.environ, "STEWARD_GATEWAY_RATE_LIMIT": str(10**9), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bench.gateway_server", "--db", url, "--port", str(port),
                             "--server", server], cwd=ROOT, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the {server} server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start within 60 s")


def baseline(engine, label: str, n: int) -> list[Row]:
    """A plain DB-API executemany of `n` ledger rows written by the batched runs (the same rows, as the driver
    returns them) into a copy of the ledger table with its indexes, and into a bare copy: one transaction."""
    from sqlalchemy import MetaData

    from models import UsageEvent

    cols = [c.name for c in UsageEvent.__table__.columns if c.name != "id"]
    md = MetaData()
    for t in UsageEvent.__table__.foreign_keys:  # the copy keeps the ledger's foreign keys too
        t.column.table.to_metadata(md)
    indexed = UsageEvent.__table__.to_metadata(md, name="bench_plain_indexed")
    for ix in list(indexed.indexes):  # index names must be unique in the database
        ix.name = ix.name.replace("usage_event", "bench_plain")
    indexed.create(engine)
    sqlite_db = engine.dialect.name == "sqlite"
    mark = "?" if sqlite_db else "%s"
    out = []
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT {', '.join(cols)} FROM usage_event WHERE idempotency_key LIKE 'b-%' LIMIT {n}")
        rows = cur.fetchall()
        if sqlite_db:
            raw.commit()
        cur.execute("CREATE TABLE bench_plain_bare AS SELECT * FROM usage_event WHERE 1 = 0")
        raw.commit()
        for table, what in (("bench_plain_indexed", "plain executemany, ledger copy with its indexes"),
                            ("bench_plain_bare", "plain executemany, bare copy (no indexes)")):
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
            t = time.perf_counter()
            if sqlite_db:
                cur.execute("BEGIN")
            cur.executemany(sql, rows)
            raw.commit() if not sqlite_db else cur.execute("COMMIT")
            wall = time.perf_counter() - t
            out.append(Row(label, what, 1, requests=1, ok=1, events=len(rows), seconds=wall,
                           per_s=len(rows) / wall))
    finally:
        raw.close()
    return out


# ------------------------------------------------------------------------------------------ scenarios
def _usage_body(run: str, c: int, j: int, ids: list[int], k: int | None = None) -> dict:
    key = f"{run}-{c}-{j}" + (f"-{k}" if k is not None else "")
    return {"idempotency_key": key, "user": ids[(c * 7 + j + (k or 0)) % len(ids)], "model": "gpt-4o-mini",
            "prompt_tokens": 100 + j % 50, "completion_tokens": 20, "ip": "10.0.0.1"}


def _recorded(expected: int):
    def check(_body: bytes, answer: bytes):
        got = json.loads(answer).get("recorded")
        return None if got == expected else f"recorded {got}, expected {expected}"
    return check


def _split(total: int, clients: int) -> int:
    return max(1, total // clients)


async def measure(label: str, port: int, secret: str, ids: list[int], scale: float) -> list[Row]:
    rows: list[Row] = []
    n = lambda table, c: max(1, int(table[c] * scale))  # noqa: E731
    # Warm-up (connections, statement caches, the key cache).
    await drive(port, secret, 4, [[("POST", "/api/v1/usage", json.dumps(_usage_body("w", c, j, ids)).encode())
                                   for j in range(20)] for c in range(4)])
    # The HTTP stack's own ceiling: a 404 answered by the same app (routing, JSON error body, no DB, no key).
    per = _split(n(SINGLE, 16), 16)
    rows.append(to_row(label, "calibration: 404 round trip (no DB)", 16, 1, await drive(
        port, secret, 16, [[("GET", "/api/v1/nothing", b"")] * per for _ in range(16)], ok_status=404)))
    print(_line(rows[-1]), flush=True)

    for clients in CLIENTS:
        per = _split(n(SINGLE, clients), clients)
        bodies = [[("POST", "/api/v1/usage", json.dumps(_usage_body(f"s{clients}", c, j, ids)).encode())
                   for j in range(per)] for c in range(clients)]
        rows.append(to_row(label, "POST /usage, 1 event", clients, 1,
                           await drive(port, secret, clients, bodies, _recorded(1))))
        print(_line(rows[-1]), flush=True)
    for clients in CLIENTS:
        per = _split(n(BATCHES, clients), clients)
        bodies = [[("POST", "/api/v1/usage", json.dumps({"events": [
            _usage_body(f"b-{clients}", c, j, ids, k) for k in range(BATCH_SIZE)]}).encode()) for j in range(per)]
            for c in range(clients)]
        rows.append(to_row(label, f"POST /usage, batch of {BATCH_SIZE:,}", clients, BATCH_SIZE,
                           await drive(port, secret, clients, bodies, _recorded(BATCH_SIZE))))
        print(_line(rows[-1]), flush=True)
    for clients in CLIENTS:
        per = _split(n(AUTH, clients), clients)
        bodies = [[("POST", "/api/v1/authorize", json.dumps({
            "user": ids[(c * 7 + j) % len(ids)], "model": "gpt-4o", "tokens": 1000}).encode())
            for j in range(per)] for c in range(clients)]
        allowed = lambda _b, a: None if json.loads(a)["allowed"] else f"denied: {a[:100]!r}"  # noqa: E731
        rows.append(to_row(label, "POST /authorize (check)", clients, 1,
                           await drive(port, secret, clients, bodies, allowed)))
        print(_line(rows[-1]), flush=True)
    for clients in CLIENTS:
        per = _split(n(AUTH, clients), clients)
        auth, settle = await cycle(port, secret, clients, per, ids)
        rows.append(to_row(label, "POST /authorize, reserve", clients, 1, auth))
        print(_line(rows[-1]), flush=True)
        rows.append(to_row(label, "POST /usage settling that reservation", clients, 1, settle))
        print(_line(rows[-1]), flush=True)
    return rows


def _line(r: Row) -> str:
    lat = (f"median {r.median_ms:8.2f}  p95 {r.p95_ms:8.2f}  p99 {r.p99_ms:8.2f} ms" if r.median_ms is not None
           else "")
    return (f"  {r.what:<48} {r.clients:>3} clients {r.per_s:>10,.0f}/s  {lat}  ({r.ok} ok, {r.failed} failed"
            f"{': ' + r.note if r.failed else ''})")


def rows(url: str = "sqlite", *, scale: float = 1.0, server: str = "uvicorn") -> list[Row]:
    """Every figure for one database (emptied first)."""
    from services.core.db import make_engine

    url, label = fresh_db(url)
    engine = make_engine(url)
    secret, ids = seed(engine)
    port = free_port()
    proc = start_server(url, port, server)
    try:
        out = asyncio.run(measure(label, port, secret, ids, scale))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    batched = [r for r in out if "batch" in r.what]
    n_base = max(10_000, max((r.events for r in batched), default=0))
    base = baseline(engine, label, n_base)
    engine.dispose()
    for r in batched:
        r.ratio = r.per_s / base[0].per_s if base[0].per_s else None
        r.note = r.note or (f"{r.ratio:.2f}× the indexed executemany, {r.per_s / base[1].per_s:.2f}× the bare one")
    return out + base


def markdown(all_rows: list[Row], header: str) -> str:
    out = [header, "", "| database | what | clients | requests ok / failed | events/s | median ms | p95 ms | "
           "p99 ms | note |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    f = lambda v: "" if v is None else f"{v:.2f}"  # noqa: E731
    for r in all_rows:
        out.append(f"| {r.db} | {r.what} | {r.clients} | {r.ok} / {r.failed} | {r.per_s:,.0f} | {f(r.median_ms)} | "
                   f"{f(r.p95_ms)} | {f(r.p99_ms)} | {r.note.replace('|', '/')} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", action="append", help="sqlite (a temp file) or a PostgreSQL URL (emptied!); repeatable")
    p.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", 1.0)),
                   help="multiplies the request counts (1.0: a few minutes for SQLite + PostgreSQL)")
    p.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    p.add_argument("--out", help="also write the table as Markdown to this file")
    p.add_argument("--json", help="also write the rows as JSON to this file")
    a = p.parse_args(argv)
    urls = a.url or ["sqlite"]
    load0 = os.getloadavg()
    all_rows: list[Row] = []
    for url in urls:
        print(f"# {url.split('@')[-1]} ({a.server})", flush=True)
        all_rows += rows(url, scale=a.scale, server=a.server)
    load1 = os.getloadavg()
    header = (f"### Gateway API over HTTP ({a.server}, 1 worker, loopback), {time.strftime('%Y-%m-%d %H:%M %Z')}\n\n"
              f"{os.cpu_count()} CPUs shared with other jobs; load average (1/5/15 min) "
              f"{'/'.join(f'{x:.1f}' for x in load0)} before, {'/'.join(f'{x:.1f}' for x in load1)} after; "
              f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; scale {a.scale}.")
    table = markdown(all_rows, header)
    print("\n" + table)
    if a.out:
        Path(a.out).write_text(table)
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(r) for r in all_rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
