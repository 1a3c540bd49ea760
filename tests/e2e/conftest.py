"""Browser-test fixtures: the real Steward app in prod mode, and Playwright on the system Chromium.

`app_url` migrates a fresh SQLite database, seeds a small demo data set through the services
(`seed-demo --scale 0.15`: the accounts of services/ops/demo.py, password `steward-demo`), starts
`reflex run --env prod --single-port` on a free port (frontend and backend share it), waits until the page
answers and kills the process tree at the end. The first build of the frontend takes minutes on a small machine:
the timeout allows it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("STEWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = float(os.environ.get("STEWARD_E2E_START_TIMEOUT", "1200"))
SCREENSHOTS = Path(__file__).parent / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    # pytest-base-url (pulled in by pytest-playwright) defines a deprecated fixture style.
    config.addinivalue_line(
        "filterwarnings", "ignore:Session-scoped fixtures defined as instance methods:DeprecationWarning"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app_env(db_url: str, workdir: Path) -> dict[str, str]:
    """Offline-safe environment (see DESIGN.md) with a private database and no Redis."""
    env = dict(os.environ)
    env.pop("REFLEX_REDIS_URL", None)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        REFLEX_DB_URL=db_url,
        REFLEX_USE_NPM="1",
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_TELEMETRY_ENABLED="false",
        NPM_CONFIG_REGISTRY="https://registry.npmjs.org",
        NPM_CONFIG_FUND="false",
        NPM_CONFIG_AUDIT="false",
        PYTHONUNBUFFERED="1",
        # The app encrypts TOTP secrets: a private key file per run (never the developer's own).
        STEWARD_SECRET_KEY_FILE=str(workdir / "secret.key"),
        # Tests drive the automatic jobs with `run-jobs --now`; no scheduler runs behind their back.
        STEWARD_JOBS_INTERVAL_SECONDS="0",
    )
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen) -> None:
    """Terminate the whole process group (reflex, its server workers, any npm/node build)."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def app_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="session")
def app_env(app_workdir: Path) -> dict[str, str]:
    """The app's environment (its database: `REFLEX_DB_URL`), for tests that prepare data with the CLI."""
    return _app_env(f"sqlite:///{app_workdir / 'e2e.db'}", app_workdir)


@pytest.fixture(scope="session")
def app_url(app_workdir: Path, app_env: dict[str, str]) -> Iterator[str]:
    workdir, env = app_workdir, app_env
    subprocess.run(
        [sys.executable, "-m", "services.ops.cli", "migrate"], cwd=ROOT, env=env, check=True, timeout=300
    )
    subprocess.run(
        [sys.executable, "-m", "services.ops.cli", "seed-demo", "--scale", "0.15"],
        cwd=ROOT, env=env, check=True, timeout=300, stdout=subprocess.DEVNULL,
    )

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "reflex.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "reflex"), "run", "--env", "prod", "--single-port", "--frontend-port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (_answers(f"{url}/ping") and _answers(f"{url}/")):
            if process.poll() is not None:
                pytest.fail(f"reflex run exited with {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"app did not answer within {START_TIMEOUT_S:.0f} s:\n{_tail(log_path)}")
            time.sleep(2)
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """System Chromium only: never `playwright install`, never a network call of its own."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
