"""The scaled Steward for tests and benchmarks: a private PostgreSQL database, a private Redis server and the
real app (`reflex run --env prod`) with N backend workers, plus the process facts the tests check (which
worker process holds which connection, RSS).

Reflex 0.10.1 serves the backend with Granian. Without Redis it starts one worker; with a reachable Redis
it starts `GRANIAN_WORKERS` workers (default min(2 × CPUs + 1, 8)), forked from the supervisor (the
`reflex run` process itself). Granian is started without `respawn_failed_workers`, so when one worker dies
the supervisor stops the others and exits: a process manager must restart it (docs/deployment.md).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from sqlalchemy.engine import make_url

from tests.e2e.conftest import ROOT, VENV_BIN, _answers, _app_env, _stop, _tail

PORTS = (43000, 43999)  # this project's range for servers started by tests and benchmarks


def free_port(lo: int = PORTS[0], hi: int = PORTS[1]) -> int:
    """A port in [lo, hi] nobody listens on (tried in random order)."""
    candidates = list(range(lo, hi + 1))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------------------------------- PostgreSQL
def pg_server_url() -> str:
    """The PostgreSQL server to create databases on: STEWARD_SCALE_PG_URL, else TEST_DATABASE_URL's server,
    else the local trust-auth server of CI."""
    return (os.environ.get("STEWARD_SCALE_PG_URL") or os.environ.get("TEST_DATABASE_URL")
            or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def create_database(name: str, server_url: str | None = None) -> str:
    """Drop and create the database `name` on the server; returns its SQLAlchemy URL."""
    import psycopg

    u = make_url(server_url or pg_server_url())
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")
    with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return u.set(database=name).render_as_string(hide_password=False)


def pg_reachable(server_url: str | None = None) -> bool:
    import psycopg

    u = make_url(server_url or pg_server_url())
    try:
        with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                             dbname="postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


# ------------------------------------------------------------------------------------------------ Redis
class RedisServer:
    """A private `redis-server` on a free port, without persistence: restarting it loses every key."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="steward-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def _pings(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._pings, 20, f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Kill (no persistence: every key is gone) and start again on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rss_bytes(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss if self.process else 0


# ------------------------------------------------------------------------------------------------- app
class App:
    """`reflex run --env prod` on a free port: `--single-port` (frontend + backend; builds `.web`, so only one
    per checkout) or `--backend-only` (the websocket and the gateway API; no build)."""

    def __init__(self, *, db_url: str, workdir: Path, redis_url: str | None = None, workers: int | None = None,
                 frontend: bool = False, env: dict[str, str] | None = None, port: int | None = None):
        self.db_url, self.workdir, self.redis_url = db_url, Path(workdir), redis_url
        self.workers, self.frontend = workers, frontend
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = _app_env(db_url, self.workdir)
        if redis_url:
            self.env["REFLEX_REDIS_URL"] = redis_url
        if workers:
            self.env["GRANIAN_WORKERS"] = str(workers)
        self.env.update(env or {})
        self.log_path = self.workdir / f"reflex-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def cli(self, *args: str, timeout: float = 600) -> str:
        """`python -m services.ops.cli …` against the app's database."""
        return subprocess.run([sys.executable, "-m", "services.ops.cli", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True, timeout=timeout).stdout

    def start(self, timeout: float = 180) -> App:
        if self.frontend:
            cmd = ["run", "--env", "prod", "--single-port", "--frontend-port", str(self.port)]
        else:
            cmd = ["run", "--env", "prod", "--backend-only", "--backend-host", "127.0.0.1",
                   "--backend-port", str(self.port)]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen([str(VENV_BIN / "reflex"), *cmd], cwd=ROOT, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (_answers(f"{self.url}/ping") and (not self.frontend or _answers(f"{self.url}/"))
                   and len(self.worker_pids()) >= (self.workers or 1)):
            if self.process.poll() is not None:
                raise RuntimeError(f"reflex run exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"app did not answer within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(1)
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def restart(self, timeout: float = 180) -> App:
        self.stop()
        return self.start(timeout)

    def tail(self, lines: int = 60) -> str:
        return _tail(self.log_path, lines) if self.log_path.exists() else ""

    # ------------------------------------------------------------------------------------ processes
    def processes(self) -> list[psutil.Process]:
        """The supervisor and every process under it."""
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> list[int]:
        """The backend worker processes: the supervisor's children that listen on the app's port."""
        out = []
        for proc in self.processes()[1:]:
            try:
                if any(c.laddr and c.laddr.port == self.port and c.status == psutil.CONN_LISTEN
                       for c in proc.net_connections(kind="tcp")):
                    out.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out

    def worker_of(self, client_port: int) -> int | None:
        """The worker process holding the server end of the TCP connection from 127.0.0.1:client_port."""
        for pid in self.worker_pids():
            try:
                for c in psutil.Process(pid).net_connections(kind="tcp"):
                    if c.raddr and c.raddr.port == client_port and c.laddr.port == self.port:
                        return pid
            except psutil.NoSuchProcess:
                continue
        return None

    def rss_bytes(self) -> dict[int, int]:
        """RSS per process (supervisor and workers)."""
        out = {}
        for proc in self.processes():
            try:
                out[proc.pid] = proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return out
