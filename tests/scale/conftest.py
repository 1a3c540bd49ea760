"""Fixtures of the scaled setup: a dedicated PostgreSQL database (created here with psycopg, so a clean clone
works), a private Redis server (so a test can restart it without touching the machine's shared Redis), and
the real app on both with 2 backend workers.

Run on its own (`make test-scale`, after `make test-e2e`): the browser app builds `.web`, and only one app
may build it per checkout at a time. The database names start with STEWARD_SCALE_DB_PREFIX (default
`steward_scale`) on the server of STEWARD_SCALE_PG_URL / TEST_DATABASE_URL (default 127.0.0.1:5432 as
postgres). Outside CI the tests skip when PostgreSQL or redis-server is missing; in CI (CI=true) they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import START_TIMEOUT_S, browser_type_launch_args, pytest_configure  # noqa: F401

from .cluster import App, RedisServer, create_database, pg_reachable

WORKERS = 2
PREFIX = os.environ.get("STEWARD_SCALE_DB_PREFIX", "steward_scale")
SCREENSHOTS = Path(__file__).parent / "screenshots"


def _require(ok: bool, what: str) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the scaled tests need {what} (.ci/run provides it)")
    pytest.skip(f"needs {what}")


@pytest.fixture(scope="session")
def scale_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="steward-scale-"))
    yield path
    if not os.environ.get("STEWARD_SCALE_KEEP"):  # set it to keep the apps' logs
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_available() -> None:
    _require(pg_reachable(), "a reachable PostgreSQL server")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    _require(shutil.which("redis-server") is not None, "redis-server on PATH")
    server = RedisServer().start()
    yield server
    server.close()


def database(suffix: str = "") -> str:
    return create_database(PREFIX + suffix)


def scaled_app(*, db_url: str, workdir: Path, redis: RedisServer, frontend: bool, seed: bool = True,
               timeout: float = 180) -> App:
    """Migrated (the deploy step), seeded with the small demo data set, started with WORKERS workers."""
    app = App(db_url=db_url, workdir=workdir, redis_url=redis.url, workers=WORKERS, frontend=frontend)
    app.cli("migrate")
    if seed:
        app.cli("seed-demo", "--scale", "0.15")
    return app.start(timeout)


@pytest.fixture(scope="module")
def browser_app(pg_available, redis_server: RedisServer, scale_workdir: Path) -> Iterator[App]:
    """The whole app (frontend too, `--single-port`) on PostgreSQL + Redis with 2 workers."""
    app = scaled_app(db_url=database(), workdir=scale_workdir, redis=redis_server, frontend=True,
                     timeout=START_TIMEOUT_S)
    yield app
    app.stop()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
