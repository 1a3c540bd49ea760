"""Security-suite fixtures: the real Steward backend (one process per test session) on a private SQLite file
seeded through the services, and the coverage report printed at the end of the run.

The backend runs as `reflex run --env prod --backend-only` (no frontend build: the suite speaks the
websocket protocol itself). Its environment is the browser tests' (tests/e2e/conftest.py), and Reflex keeps
its states in memory (`STEWARD_SECURITY_STATE_MANAGER=disk` runs it on the disk state manager).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ops.migrate import upgrade
from tests.e2e.conftest import ROOT, VENV_BIN, _answers, _app_env, _free_port, _stop, _tail

from .world import World, build_world

START_TIMEOUT_S = 180
COVERAGE: dict[str, dict] = {"personas": {}, "states": {}}


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    # A private directory (not pytest's tmp_path: parallel pytest runs on one machine prune each other's).
    workdir = Path(tempfile.mkdtemp(prefix="steward-security-"))
    url = f"sqlite:///{workdir / 'security.db'}"
    upgrade(url)
    w = build_world(url)
    w.workdir = workdir
    yield w
    if not os.environ.get("STEWARD_SECURITY_KEEP"):  # set it to keep the database and the app's log
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def app_url(world: World) -> Iterator[str]:
    env = _app_env(world.url, world.workdir)
    env.update(REFLEX_STATE_MANAGER_MODE=os.environ.get("STEWARD_SECURITY_STATE_MANAGER", "memory"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = world.workdir / "reflex.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "reflex"), "run", "--env", "prod", "--backend-only",
             "--backend-host", "127.0.0.1", "--backend-port", str(port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(f"{url}/ping"):
            if process.poll() is not None:
                pytest.fail(f"reflex run exited with {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"backend did not answer within {START_TIMEOUT_S} s:\n{_tail(log_path)}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not COVERAGE["states"] and not COVERAGE["personas"]:
        return
    tr = terminalreporter
    tr.section("security suite coverage")
    tr.write_line("Protected states (handlers, from Reflex's registry):")
    for state, info in sorted(COVERAGE["states"].items()):
        tr.write_line(f"  {state:<28} {info['marker']:<26} {info['count']:>2} handlers: {', '.join(info['names'])}")
    tr.write_line("Per persona (handlers exercised = denied + run in scope; calls = adversarial calls sent):")
    for persona, info in COVERAGE["personas"].items():
        tr.write_line(f"  {persona:<26} denied {info['denied']:>3}  run-in-scope {info['scoped']:>3}  "
                      f"calls {info['calls']:>5}")
