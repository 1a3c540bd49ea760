"""Load test of the live app, over loopback only: N raw-websocket sessions (the security suite's Socket.IO
client, each signed in with MFA verified) each acting every 2 s — alternately the next page of the user table
(`UsersState.go_to`) and the Token Statistics page (`StatsState.load`: cards + 5 charts) — on

- `embedded`: SQLite file + Reflex's disk state manager, one worker (what `make run` gives);
- `pg2`, `pg4`: PostgreSQL + a private Redis, `GRANIAN_WORKERS` = 2 / 4.

    python -m bench.live_load [--setups embedded,pg2,pg4] [--sessions 10,50,200] [--duration 30]
                              [--users 2000] [--events 300000] [--out FILE]

Reports the event round trip (emit → the update carrying the handler's state) median / p95 / p99, overall and
per action, events per second, failures, and the RSS of the server processes (peak of 1-s samples; the sum
over supervisor and workers, and the largest worker). Calibration measured in the same run: a trivial
framework event (`set_is_hydrated`) from one idle session. (State sizes per page: bench/state_sizes.py.)
Bounded: at most 300 sessions, at most 300 s per run, 127.0.0.1 only. No assertions: figures, not tests.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from sqlalchemy.engine import make_url

from bench import live_data
from tests.scale.cluster import App, RedisServer, create_database
from tests.security.registry import ROOT_STATE, SENTINEL
from tests.security.sio import ProtocolError
from tests.security.tab import Tab

MAX_SESSIONS, MAX_SECONDS = 300, 300
SETUPS = {"embedded": (False, 1), "pg2": (True, 2), "pg4": (True, 4)}
ADMINS = 8


def _names() -> dict[str, str]:
    import admin_panel.admin_panel  # noqa: F401  (registers the states)
    from admin_panel.features.statistics.state import StatsState
    from admin_panel.features.users.state import UsersState
    from admin_panel.shell.state import ShellState

    return {"shell": ShellState.get_full_name(), "users": UsersState.get_full_name(),
            "stats": StatsState.get_full_name()}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))] if xs else float("nan")


# --------------------------------------------------------------------------------------------- a session
class Session:
    """One signed-in tab on the raw socket: warmed up on the user table and statistics, then timed actions."""

    def __init__(self, url: str, token: str, names: dict[str, str], mix: str = "both"):
        self.names, self.mix = names, mix
        self.tab = Tab(url, token, router_path="/admin/users")
        self.port = self.tab.sock.ws.sock.getsockname()[1]
        self.pages = 1
        self.page = 1
        self.samples: list[tuple[str, float]] = []
        self.failures: list[str] = []

    def warm(self) -> None:
        n = self.names
        self.tab.call(f"{n['shell']}.load", {"nav_key": "users"})
        for u in self.tab.call(f"{n['users']}.load"):
            self.pages = int(u.delta.get(n["users"], {}).get("pages_rx_state_", self.pages))
        self.tab.call(f"{n['stats']}.load")

    def act(self, i: int) -> None:
        n = self.names
        if self.mix == "users" or (self.mix == "both" and i % 2 == 0):
            self.page = self.page % max(1, self.pages) + 1
            action, state, event, payload = "user table page", n["users"], f"{n['users']}.go_to", {"page": self.page}
        else:
            action, state, event, payload = "statistics page", n["stats"], f"{n['stats']}.load", {}
        t = time.perf_counter()
        try:
            self.tab.sock.emit(event, payload)
            got = self.tab.sock.receive_until(lambda u: state in u.delta or bool(u.redirects), timeout=30)
        except (ProtocolError, OSError) as e:  # counted, then the tab is resynchronised
            self.failures.append(f"{action}: {str(e)[:80]}")
            try:
                self.tab.barrier()
            except Exception:  # noqa: BLE001
                pass
            return
        ms = (time.perf_counter() - t) * 1000
        if got[-1].redirects:
            self.failures.append(f"{action}: redirected to {got[-1].redirects}")
        else:
            self.samples.append((action, ms))

    def run(self, until: float, interval: float) -> None:
        next_at = time.monotonic() + random.uniform(0, interval)
        i = random.randrange(2)
        while True:
            wait = next_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if time.monotonic() >= until:
                return
            self.act(i)
            i += 1
            next_at += interval

    def close(self) -> None:
        self.tab.close()


@dataclass
class Result:
    setup: str
    sessions: int
    seconds: float
    samples: list[tuple[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rss_total: int = 0
    rss_worker: int = 0
    redis_rss: int = 0
    per_worker: dict[int, int] = field(default_factory=dict)
    calibration: list[float] = field(default_factory=list)
    load: float = 0.0
    workers: int = 1
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used during the run, per component
    machine_cpu: float = 0.0  # % of all CPUs busy during the run (everything on the machine)

    def ms(self, action: str | None = None) -> list[float]:
        return [m for a, m in self.samples if action is None or a == action]


def calibrate(url: str, token: str, runs: int = 30) -> list[float]:
    """A trivial framework event from one idle tab: what the machine gives with no app work at all."""
    out = []
    with Tab(url, token) as tab:
        flip = True
        for _ in range(runs):
            flip = not flip
            t = time.perf_counter()
            tab.sock.emit(SENTINEL, {"value": flip})
            tab.sock.receive_until(lambda u, f=flip: u.delta.get(ROOT_STATE, {}).get("is_hydrated_rx_state_") is f)
            out.append((time.perf_counter() - t) * 1000)
            time.sleep(0.05)
    return out


def cpu_seconds(app: App, redis: RedisServer | None, db_url: str) -> dict[str, float]:
    """CPU time (user + system) so far of the app's processes, the private Redis, and the PostgreSQL backends
    serving the app's database (found by the database name in their process title)."""
    def used(procs) -> float:
        total = 0.0
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        return total

    out = {"app": used(app.processes()), "client": used([psutil.Process()])}
    if redis is not None and redis.process is not None:
        out["redis"] = used([psutil.Process(redis.process.pid)])
    if not db_url.startswith("sqlite"):
        name = make_url(db_url).database
        out["postgres"] = used(p for p in psutil.process_iter(["name", "cmdline"])
                               if (p.info["name"] or "").startswith("postgres")
                               and f" {name} " in " ".join(p.info["cmdline"] or []) + " ")
    return out


def run_load(app: App, world, names, *, setup: str, n: int, duration: float, interval: float,
             redis: RedisServer | None, mix: str = "both") -> Result:
    tokens = [world.sign_in(f"admin{i % ADMINS}", verified=True) for i in range(n)]
    res = Result(setup, n, duration, workers=len(app.worker_pids()))
    res.calibration = calibrate(app.url, tokens[0])
    sessions: list[Session] = []

    def connect(tok):
        s = Session(app.url, tok, names, mix)
        s.warm()
        return s

    with ThreadPoolExecutor(max_workers=16) as pool:
        sessions = list(pool.map(connect, tokens))
    res.per_worker = dict(Counter(app.worker_of(s.port) for s in sessions))
    cpu0 = cpu_seconds(app, redis, world.url)
    psutil.cpu_percent()  # starts the machine-wide measurement
    until = time.monotonic() + duration
    threads = [threading.Thread(target=s.run, args=(until, interval), daemon=True) for s in sessions]
    for t in threads:
        t.start()
    loads = []
    while any(t.is_alive() for t in threads):
        rss = app.rss_bytes()
        res.rss_total = max(res.rss_total, sum(rss.values()))
        workers = [v for pid, v in rss.items() if pid != app.process.pid] or list(rss.values())
        res.rss_worker = max(res.rss_worker, max(workers))
        if redis is not None:
            res.redis_rss = max(res.redis_rss, redis.rss_bytes())
        loads.append(os.getloadavg()[0])
        time.sleep(1)
    for t in threads:
        t.join()
    res.load = max(loads) if loads else os.getloadavg()[0]
    res.machine_cpu = psutil.cpu_percent()
    res.cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu_seconds(app, redis, world.url).items()}
    for s in sessions:
        res.samples += s.samples
        res.failures += s.failures
        s.close()
    return res


# ----------------------------------------------------------------------------------------------- report
def _f(x: float) -> str:
    return f"{x:.1f}" if x == x else "—"


def _cpu(r: Result, events: int) -> str:
    if not events or not r.cpu:
        return "—"
    per = {k: 1000 * v / events for k, v in r.cpu.items()}
    parts = " + ".join(f"{per[k]:.0f}" for k in ("app", "postgres", "redis") if k in per)
    server = sum(v for k, v in per.items() if k != "client")
    return f"{server:.0f} ({parts}); load generator {per.get('client', 0):.0f}"


def table(results: list[Result]) -> str:
    out = ["| setup | workers | sessions | events | events/s | median ms | p95 ms | p99 ms | user table p95 | "
           "statistics p95 | failed | calibration median / p95 ms | CPU ms per event: server (app + PostgreSQL + "
           "Redis); load generator | machine CPU busy | RSS total MB | RSS largest worker MB | Redis RSS MB | "
           "sessions per worker | load avg (peak) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|---:|"]
    for r in results:
        xs = r.ms()
        spread = " / ".join(str(v) for _, v in sorted(r.per_worker.items(), key=lambda kv: str(kv[0])))
        out.append(
            f"| {r.setup} | {r.workers} | {r.sessions} | {len(xs)} | {len(xs) / r.seconds:.1f} | "
            f"{_f(statistics.median(xs) if xs else float('nan'))} | {_f(pct(xs, 95))} | {_f(pct(xs, 99))} | "
            f"{_f(pct(r.ms('user table page'), 95))} | {_f(pct(r.ms('statistics page'), 95))} | "
            f"{len(r.failures)} | {_f(statistics.median(r.calibration))} / {_f(pct(r.calibration, 95))} | "
            f"{_cpu(r, len(xs))} | {r.machine_cpu:.0f} % | {r.rss_total / 2**20:.0f} | {r.rss_worker / 2**20:.0f} | "
            f"{(r.redis_rss / 2**20) if r.redis_rss else 0:.0f} | {spread} | {r.load:.1f} |")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------- main
def prepare(kind: str, a, workdir: Path):
    url = a.pg_url or create_database(a.pg_db) if kind == "pg" else f"sqlite:///{workdir / 'live.db'}"
    t = time.perf_counter()
    world = live_data.build(url, users_n=a.users, events=a.events, admins=ADMINS)
    print(f"  {kind}: {a.users:,} users, {a.events:,} usage events built in {time.perf_counter() - t:.0f} s",
          flush=True)
    return url, world


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setups", default="embedded,pg2,pg4")
    p.add_argument("--sessions", default="10,50,200")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load per run")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between two actions of a session")
    p.add_argument("--mix", choices=("both", "users", "stats"), default="both",
                   help="what the sessions do: alternate (default), only the user table, only statistics")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--pg-url", help="a scratch PostgreSQL database (emptied); default: --pg-db created anew")
    p.add_argument("--pg-db", default=os.environ.get("BENCH_LIVE_PG_DB", "steward_bench_live"))
    p.add_argument("--out", help="also write the Markdown to this file")
    a = p.parse_args(argv)
    counts = [int(x) for x in a.sessions.split(",") if x]
    if max(counts) > MAX_SESSIONS or a.duration > MAX_SECONDS:
        p.error(f"at most {MAX_SESSIONS} sessions and {MAX_SECONDS} s per run")
    names = _names()
    workdir = Path(tempfile.mkdtemp(prefix="steward-live-"))
    results, data = [], {}
    for setup in a.setups.split(","):
        pg, workers = SETUPS[setup]
        kind = "pg" if pg else "sqlite"
        if kind not in data:
            data[kind] = prepare(kind, a, workdir)
        url, world = data[kind]
        redis = RedisServer().start() if pg else None
        env = {"STEWARD_JOBS_INTERVAL_SECONDS": "0"}
        if not pg:
            env["REFLEX_STATE_MANAGER_MODE"] = "disk"
        app = App(db_url=url, workdir=workdir, redis_url=redis.url if redis else None,
                  workers=workers if pg else None, env=env).start()
        try:
            print(f"  {setup}: workers {app.worker_pids()}", flush=True)
            for n in counts:
                r = run_load(app, world, names, setup=setup, n=n, duration=a.duration, interval=a.interval,
                             redis=redis, mix=a.mix)
                results.append(r)
                print("  " + table([r]).splitlines()[-1], flush=True)  # progress (indented: not the report)
                if r.failures:
                    print("  failures:", Counter(f.split(":")[0] for f in r.failures), r.failures[:3], flush=True)
        finally:
            app.stop()
            if redis is not None:
                redis.close()
    what = {"both": "", "users": "; user table only", "stats": "; statistics only"}[a.mix]
    md = [f"### Live load: {a.users:,} users, {a.events:,} usage events{what}; each session acts every "
          f"{a.interval:g} s for {a.duration:g} s ({os.cpu_count()} CPUs; the load generator shares them)\n",
          table(results)]
    text = "\n".join(md)
    print("\n" + text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
