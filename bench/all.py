"""`make bench`: every benchmark of the project at one scale, one Markdown report in bench/results/.

    python -m bench.all [--scale small|full|tiny|<fraction of full>] [--only ingest,stats,...] [--out FILE]

| bench | script | full scale (1.0) | small (0.1, the default) |
|---|---|---|---|
| ingest | bench/gateway_bench.py: POST /usage single and 1,000-event batches, /authorize | its own sizes | same |
| stats | bench/generate.py + bench/run.py: Statistics page, usage log, audit trail, | 10M events, 1M audit | 1M, 100k |
| | sign-ins | | |
| users | bench/user_table_bench.py: the user table at 100,000 users | 100k users, 1M events | 100k, 200k |
| distribution | bench/distribution_bench.py: preview / execute | 10,000 users | 2,000 |
| import | bench/bench_user_import.py: 10,000-row CSV while another admin works | 10,000 rows | 2,000 |
| live | bench/live_load.py: 10 / 50 / 200 websocket sessions, | 60 s a run | 20 s |
| | embedded and PostgreSQL + Redis ×2 / ×4 | | |
| sizes | bench/state_sizes.py: pickled state per admin tab, page by page | demo scale 1 | same |

Each runs as its own process (`python -m bench.<script> …`, the scripts' `main(argv)`) on SQLite and on a
scratch PostgreSQL database per bench, created on BENCH_PG_URL's server (default: TEST_DATABASE_URL's, or
127.0.0.1 as postgres) and named BENCH_PG_PREFIX_<bench> (default prefix `steward_bench`). Without a
reachable PostgreSQL the PostgreSQL runs are skipped (and say so). Every section keeps the script's own
Markdown (median, p95, the baseline measured in the same run and the ratio); the report starts with the
machine: CPU count, load average before and after each bench, the commit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
NAMED = {"tiny": 0.01, "small": 0.1, "full": 1.0}
ORDER = ("ingest", "stats", "users", "distribution", "import", "live", "sizes")


def sizes(scale: float) -> dict:
    runs = 20 if scale >= 1 else (10 if scale >= 0.1 else 3)
    return {
        "events": max(20_000, int(10_000_000 * scale)), "audit": max(5_000, int(1_000_000 * scale)),
        "sign_ins": max(2_000, int(200_000 * scale)), "runs": runs, "baseline_runs": 2 if scale >= 1 else 1,
        "deep": 10_000 if scale >= 1 else max(20, int(10_000 * scale)),
        "ut_users": min(100_000, max(5_000, int(1_000_000 * scale))),
        "ut_events": max(20_000, int(1_000_000 * min(1.0, scale * 2))),
        "dist_users": max(500, int(10_000 * min(1.0, scale * 2))),
        "import_rows": max(500, int(10_000 * min(1.0, scale * 2))),
        "live_duration": max(8, min(60, int(200 * scale))),
        "live_sessions": "10,50,200" if scale >= 0.05 else "5,20",
        "live_events": max(20_000, int(1_000_000 * min(1.0, scale * 3))),
        "demo_scale": 1.0 if scale >= 0.05 else 0.2,
    }


def _mentions(script: str, option: str) -> bool:
    return option in (ROOT / "bench" / script).read_text()


class Runner:
    def __init__(self, scale: float, out: Path):
        self.scale, self.s, self.out = scale, sizes(scale), out
        self.tmp = Path(tempfile.mkdtemp(prefix="steward-bench-"))
        self.sections: list[str] = []
        self.pg_ok = self._pg_ok()

    # ---------------------------------------------------------------------------------------- helpers
    def _pg_ok(self) -> bool:
        from tests.scale.cluster import pg_reachable

        return pg_reachable(os.environ.get("BENCH_PG_URL"))

    def pg_url(self, bench: str) -> str:
        from tests.scale.cluster import create_database

        return create_database(f"{os.environ.get('BENCH_PG_PREFIX', 'steward_bench')}_{bench}",
                               os.environ.get("BENCH_PG_URL"))

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.tmp / name}.db"

    def run(self, title: str, args: list[str], timeout: float = 3600, report: bool = True) -> str:
        """`python -m bench.<…> args`; its output (progress lines dropped) becomes a section of the report
        (`report=False`: a preparation step, only its time is noted)."""
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        print(f"\n==> {title}: python -m {' '.join(args)}", flush=True)
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines = []
        try:
            for line in proc.stdout:
                print(line, end="", flush=True)
                lines.append(line.rstrip("\n"))
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
        kept = [ln for ln in lines if not ln.startswith(("  ", "usage done", "built ", "# ", "Traceback"))]
        status = "" if proc.returncode == 0 else f"\n**exited with {proc.returncode}**; last lines:\n\n```\n" + \
            "\n".join(lines[-15:]) + "\n```\n"
        body = "\n".join(kept).strip() if report or proc.returncode else ""
        if body and "|" not in body:
            body = f"```\n{body}\n```"
        section = (f"## {title}\n\n`python -m {' '.join(args)}` — {time.perf_counter() - t:.0f} s, load average "
                   f"{load0:.1f} → {os.getloadavg()[0]:.1f}\n\n{body}\n{status}")
        self.sections.append(section)
        self.write()
        return section

    def skip(self, title: str, why: str) -> None:
        self.sections.append(f"## {title}\n\nskipped: {why}\n")

    # ----------------------------------------------------------------------------------------- benches
    def ingest(self) -> None:
        targets = [("SQLite", "sqlite")] + ([("PostgreSQL", "pg")] if self.pg_ok else [])
        for label, kind in targets:
            url = "sqlite" if kind == "sqlite" else self.pg_url("ingest")
            if _mentions("gateway_bench.py", '"--url"'):  # the main(argv) interface with --url/--scale/--out
                args = ["bench.gateway_bench", "--url", url if kind != "sqlite" else self.sqlite_url("ingest"),
                        "--scale", str(self.scale)]
            else:  # the first version: one positional argument, "sqlite" or a PostgreSQL URL
                args = ["bench.gateway_bench", url]
            self.run(f"Ingest and authorize (gateway API), {label}", args)
        if not self.pg_ok:
            self.skip("Ingest and authorize (gateway API), PostgreSQL", "no PostgreSQL reachable")

    def stats(self) -> None:
        s = self.s
        for label, url in self._both("stats"):
            self.run(f"Build the statistics/logs database, {label}",
                     ["bench.generate", "--url", url, "--events", str(s["events"]), "--audit", str(s["audit"]),
                      "--sign-ins", str(s["sign_ins"])], report=False)
            args = ["bench.run", "--url", url]
            if _mentions("run.py", '"--scale"'):
                args += ["--scale", str(self.scale)]
            else:
                args += ["--runs", str(s["runs"]), "--baseline-runs", str(s["baseline_runs"]), "--deep",
                         str(s["deep"])]
            self.run(f"Statistics and activity logs, {label}", args)

    def users(self) -> None:
        s = self.s
        for label, url in self._both("users"):
            self.run(f"User table, {label}", ["bench.user_table_bench", "--url", url, "--users", str(s["ut_users"]),
                                               "--events", str(s["ut_events"]), "--runs", str(s["runs"])])

    def distribution(self) -> None:
        for label, url in self._both("distribution"):
            self.run(f"Token distribution, {label}", ["bench.distribution_bench", "--url", url, "--users",
                                                      str(self.s["dist_users"]), "--reps", "5"])

    def import_(self) -> None:
        for label, url in self._both("import"):
            os.environ["BENCH_ROWS"] = str(self.s["import_rows"])
            self.run(f"CSV user import, {label}", ["bench.bench_user_import", url])

    def live(self) -> None:
        s = self.s
        setups = "embedded,pg2,pg4" if self.pg_ok else "embedded"
        args = ["bench.live_load", "--setups", setups, "--sessions", s["live_sessions"], "--duration",
                str(s["live_duration"]), "--events", str(s["live_events"])]
        if self.pg_ok:
            args += ["--pg-url", self.pg_url("live")]
        self.run("Live load (raw websocket sessions against the running app)", args)

    def state_sizes(self) -> None:
        self.run("Pickled state per admin tab", ["bench.state_sizes", "--scale", str(self.s["demo_scale"])])

    def _both(self, bench: str) -> list[tuple[str, str]]:
        out = [("SQLite", self.sqlite_url(bench))]
        if self.pg_ok:
            out.append(("PostgreSQL", self.pg_url(bench)))
        else:
            self.skip(f"{bench}, PostgreSQL", "no PostgreSQL reachable")
        return out

    # ------------------------------------------------------------------------------------------ report
    def header(self) -> str:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip() or "?"
        return (f"# Steward benchmarks — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
                f"Scale {self.scale:g} of full; commit {commit}; {os.cpu_count()} CPUs; load average at the start "
                f"{self.load0:.1f} (other jobs share this machine: read the figures against the calibration rows "
                f"and the baselines measured in the same run).\n")

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(self.header() + "\n" + "\n".join(self.sections))

    def all(self, only: list[str]) -> None:
        self.load0 = os.getloadavg()[0]
        steps = {"ingest": self.ingest, "stats": self.stats, "users": self.users, "distribution": self.distribution,
                 "import": self.import_, "live": self.live, "sizes": self.state_sizes}
        for name in only:
            steps[name]()
        self.write()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default=os.environ.get("SCALE", "small"),
                   help="small (default, ~20 min on 2 CPUs), full, tiny, or a fraction of full")
    p.add_argument("--only", default=",".join(ORDER), help=f"a subset of {','.join(ORDER)}")
    p.add_argument("--out", help="default: bench/results/bench-<scale>-<UTC time>.md")
    a = p.parse_args(argv)
    scale = NAMED.get(a.scale) or float(a.scale)
    only = [x for x in a.only.split(",") if x]
    unknown = set(only) - set(ORDER)
    if unknown:
        p.error(f"unknown benches: {', '.join(sorted(unknown))}")
    out = Path(a.out) if a.out else RESULTS / f"bench-{a.scale}-{datetime.now(UTC):%Y%m%d-%H%M}.md"
    t = time.perf_counter()
    runner = Runner(scale, out)
    try:
        runner.all(only)
    finally:
        shutil.rmtree(runner.tmp, ignore_errors=True)
    print(f"\nReport: {out} ({(time.perf_counter() - t) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
