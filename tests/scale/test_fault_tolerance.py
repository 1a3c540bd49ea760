"""Crashes on the scaled setup (PostgreSQL + a private Redis, 2 workers, `--backend-only`: no frontend build).

- kill -9 the worker that is in the middle of a 1,000-event usage batch (its 1,000 ledger rows inserted, the
  rollups not yet: the test holds a rollup row lock so the batch waits there), and the worker that is in the
  middle of a distribution run (some allocations updated, not all): nothing of either is left after the
  restart, and the same request sent again completes exactly once;
- the Redis server restarts (no persistence: every tab's state is gone): a tab either answers as its own user
  or asks to sign in again, never with another user's data; a reconnecting browser (token in its storage)
  is itself again.

Granian (Reflex 0.10.1's server) runs without `respawn_failed_workers`: when a worker dies, the supervisor stops
the other workers and exits. The tests check that too, and restart the app as a process manager would.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, func, select

from models import AuditEvent, DistributionLock, DistributionRun, UsageDaily, UsageEvent, UsageUserMonthly, User
from services.core.actor import Actor, system_actor
from services.core.db import make_engine
from services.gateway import api_keys
from services.ops.migrate import upgrade
from services.orgs import catalog
from services.tokens.distribution import runs
from tests.security.tab import Tab
from tests.security.world import World, build_world

from .cluster import App, RedisServer, wait_until
from .conftest import WORKERS, database

BATCH = 1000


@pytest.fixture(scope="module")
def stack(pg_available, scale_workdir: Path) -> Iterator[tuple[App, RedisServer, World, str]]:
    url = database("_fault")
    upgrade(url)
    world = build_world(url)
    eng = make_engine(url)
    with Session(eng, expire_on_commit=False) as s:
        catalog.ensure_default_models(s)
        key = api_keys.create_key(s, actor=replace(system_actor(world.alpha_id), user_id=None), name="gateway")
        s.commit()
    eng.dispose()
    redis = RedisServer().start()
    app = App(db_url=url, workdir=scale_workdir, redis_url=redis.url, workers=WORKERS).start()
    yield app, redis, world, key.secret
    app.stop()
    redis.close()


# ------------------------------------------------------------------------------------------------ helpers
def _pg(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)


def _waiting_backend(url: str, timeout: float = 60) -> tuple[int, int]:
    """(pid, client port) of the PostgreSQL backend that waits for a row lock."""
    found: list[tuple[int, int]] = []

    def check() -> bool:
        with _pg(url) as c:
            found[:] = c.execute("SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'").fetchall()
        return bool(found)

    wait_until(check, timeout, "a transaction waiting for the test's row lock")
    return found[0]


def _worker_with_db_port(app: App, client_port: int) -> int:
    """The worker process owning the database connection from that local port."""
    for pid in app.worker_pids():
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == client_port:
                return pid
    raise AssertionError(f"no worker holds the database connection from port {client_port}")


def _backend_gone(url: str, pid: int) -> bool:
    with _pg(url) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 0


def _kill_and_restart(app: App, worker: int, url: str, backend_pid: int, blocker: psycopg.Connection) -> None:
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: app.process.poll() is not None, 60, "the supervisor to stop after losing a worker")
    blocker.rollback()  # let the orphaned transaction go on: it can only fail now (its client is gone)
    wait_until(lambda: _backend_gone(url, backend_pid), 60, "the killed worker's transaction to end")
    app.start()
    assert len(app.worker_pids()) == WORKERS


def _count(url: str, stmt) -> int:
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            return int(s.exec(stmt).one() or 0)
    finally:
        eng.dispose()


# ---------------------------------------------------------------------------------------------- the tests
def test_kill_9_during_a_usage_batch_leaves_nothing_and_the_retry_lands_once(stack):
    app, _redis, world, secret = stack
    url = world.url
    api = f"{app.url}/api/v1"
    auth = {"Authorization": f"Bearer {secret}"}
    member = world.emails["alpha_member"]
    first = httpx.post(f"{api}/usage", headers=auth, json={"idempotency_key": "warm-up", "user": member,
                                                           "model": "gpt-4o-mini", "prompt_tokens": 10})
    assert first.status_code == 200, first.text
    keys = [f"crash-batch-{i}" for i in range(BATCH)]
    batch = {"events": [{"idempotency_key": k, "user": member, "model": "gpt-4o-mini", "prompt_tokens": 100 + i,
                         "completion_tokens": 10} for i, k in enumerate(keys)]}
    in_batch = UsageEvent.idempotency_key.in_(keys)

    blocker = _pg(url)
    blocker.autocommit = False
    blocker.execute("SELECT 1 FROM usage_daily WHERE org_id = %s FOR UPDATE", (world.alpha_id,))
    outcome: dict = {}

    def send() -> None:
        try:
            outcome["response"] = httpx.post(f"{api}/usage", headers=auth, json=batch, timeout=120)
        except httpx.HTTPError as e:
            outcome["error"] = e

    sender = threading.Thread(target=send)
    sender.start()
    backend_pid, port = _waiting_backend(url)
    with _pg(url) as c:  # the batch is in the middle: rows written inside its open transaction, not visible
        assert c.execute("SELECT count(*) FROM usage_event "
                         "WHERE idempotency_key LIKE 'crash-batch-%'").fetchone()[0] == 0
        locks = c.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'usage_event'::regclass",
                          (backend_pid,)).fetchone()[0]
        assert locks > 0  # it has written to the ledger already
        print(f"batch waiting in backend {backend_pid} (client port {port}), holding {locks} ledger locks")
    _kill_and_restart(app, _worker_with_db_port(app, port), url, backend_pid, blocker)
    blocker.close()
    sender.join(timeout=120)
    assert "error" in outcome or outcome["response"].status_code >= 500  # the gateway saw the request fail

    assert _count(url, select(func.count()).select_from(UsageEvent).where(in_batch)) == 0  # no partial batch
    ledger = _count(url, select(func.sum(UsageEvent.billed_tokens)).where(UsageEvent.org_id == world.alpha_id))
    assert _count(url, select(func.sum(UsageDaily.billed_tokens)).where(UsageDaily.org_id == world.alpha_id)) == ledger
    assert _count(url, select(func.sum(UsageUserMonthly.billed_tokens))
                  .where(UsageUserMonthly.org_id == world.alpha_id)) == ledger

    retry = httpx.post(f"{api}/usage", headers=auth, json=batch, timeout=120)  # the gateway's idempotent retry
    assert retry.status_code == 200, retry.text
    assert (retry.json()["recorded"], retry.json()["duplicates"]) == (BATCH, 0)
    again = httpx.post(f"{api}/usage", headers=auth, json=batch, timeout=120)
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, BATCH)
    assert _count(url, select(func.count()).select_from(UsageEvent).where(in_batch)) == BATCH
    ledger = _count(url, select(func.sum(UsageEvent.billed_tokens)).where(UsageEvent.org_id == world.alpha_id))
    assert _count(url, select(func.sum(UsageDaily.billed_tokens)).where(UsageDaily.org_id == world.alpha_id)) == ledger


def _dist(name: str) -> str:
    import admin_panel.admin_panel  # noqa: F401
    from admin_panel.features.distribution.state import DistributionState

    return f"{DistributionState.get_full_name()}.{name}"


def _caps(url: str, org_id: int) -> dict[int, int]:
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            return dict(s.exec(select(User.id, User.max_tokens).where(User.org_id == org_id)).all())
    finally:
        eng.dispose()


def _execute(tab: Tab) -> dict:
    """Preview then execute (a background event); the DistributionState delta once the run is over."""
    tab.call(_dist("load"))
    tab.call(_dist("preview"))
    tab.call(_dist("ask_confirm"))
    tab.sock.emit(_dist("execute"), {})
    state = _dist("execute").rpartition(".")[0]
    got = tab.sock.receive_until(lambda u: u.delta.get(state, {}).get("running_rx_state_") is False, timeout=120)
    return got[-1].delta[state]


def test_kill_9_during_a_distribution_run_applies_nothing_and_the_retry_applies_once(stack):
    app, _redis, world, _secret = stack
    url, org = world.url, world.alpha_id
    before = _caps(url, org)
    eng = make_engine(url)
    with Session(eng) as s:
        admin = s.get(User, world.ids["alpha_admin"])
        actor = Actor(admin.id, "admin", org, email=admin.email)
        plan = runs.preview(s, actor=actor, kind="tokens", strategy="equal")
    eng.dispose()
    assert len(plan.changed) >= 3
    last = plan.changed[-1].user_id  # the run updates the users in plan order: hold the last one's row
    audit_before = _count(url, select(func.count()).select_from(AuditEvent))

    blocker = _pg(url)
    blocker.autocommit = False
    blocker.execute("SELECT 1 FROM app_user WHERE id = %s FOR UPDATE", (last,))
    tab = Tab(app.url, world.sign_in("alpha_admin", verified=True), router_path="/admin/distribution")
    tab.call(_dist("load"))
    tab.call(_dist("preview"))
    tab.call(_dist("ask_confirm"))
    tab.sock.emit(_dist("execute"), {})
    backend_pid, port = _waiting_backend(url)
    with _pg(url) as c:  # in the middle: the other users' rows are updated inside the run's transaction
        assert c.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'app_user'::regclass "
                         "AND mode = 'RowExclusiveLock'", (backend_pid,)).fetchone()[0] > 0
    _kill_and_restart(app, _worker_with_db_port(app, port), url, backend_pid, blocker)
    blocker.close()
    tab.close()

    assert _caps(url, org) == before  # no half-applied run
    assert _count(url, select(func.count()).select_from(DistributionRun).where(DistributionRun.org_id == org)) == 0
    assert _count(url, select(func.count()).select_from(AuditEvent)) == audit_before
    # The run's lock row was committed on its own connection before the run: it stays until it expires
    # (30 s + 1 s per 500 users); until then a retry is told to wait, and then it completes.
    with Tab(app.url, world.sign_in("alpha_admin", verified=True), router_path="/admin/distribution") as retry:
        result = _execute(retry)
        print(f"first retry after the restart: {result.get('error_rx_state_') or result.get('notice_rx_state_')}")
        if _count(url, select(func.count()).select_from(DistributionLock).where(DistributionLock.org_id == org)):
            assert "retry in" in result.get("error_rx_state_", ""), result
        deadline = time.monotonic() + 120
        while "retry in" in result.get("error_rx_state_", "") and time.monotonic() < deadline:
            time.sleep(2)
            result = _execute(retry)
        assert result.get("error_rx_state_", "") == "", result
        assert "done" in result.get("notice_rx_state_", ""), result
        again = _execute(retry)  # the same distribution again: nothing left to change
    assert "0 allocations changed" in again.get("notice_rx_state_", ""), again
    after = _caps(url, org)
    assert {r.user_id: r.proposed for r in plan.changed} == {u: after[u] for u in (r.user_id for r in plan.changed)}
    assert _count(url, select(func.count()).select_from(DistributionRun).where(DistributionRun.org_id == org)) == 2


def _users_load(tab: Tab) -> list:
    import admin_panel.admin_panel  # noqa: F401
    from admin_panel.features.users.state import UsersState

    return tab.call(f"{UsersState.get_full_name()}.load")


def _emails(updates) -> set[str]:
    out = set()
    for u in updates:
        for var in u.delta.values():
            for row in var.get("rows_rx_state_", []) or []:
                out.add(row["email"])
    return out


def test_a_redis_restart_never_mixes_users(stack):
    app, redis, world, _secret = stack
    own = {"alpha": "@alpha.test", "beta": "@beta.test"}
    tokens = {name: world.sign_in(f"{name}_admin", verified=True) for name in own}
    tabs = {name: Tab(app.url, tokens[name], router_path="/admin/users") for name in own}
    for name, tab in tabs.items():
        emails = _emails(_users_load(tab))
        assert emails and all(e.endswith(own[name]) for e in emails), (name, emails)

    redis.restart()  # every tab's state is gone

    for name, tab in tabs.items():
        # The same websocket, its state gone: the tab is asked to sign in again, or (if a worker still holds
        # a copy) answers as itself; never with the other org's users.
        updates = _users_load(tab)
        redirects = [r for u in updates for r in u.redirects]
        emails = _emails(updates)
        assert redirects == ["/login"] or (emails and all(e.endswith(own[name]) for e in emails)), \
            (name, redirects, emails)
        tab.close()
        # The browser reconnects (same tab) and hydrates with the token it keeps in local storage: itself again.
        with Tab(app.url, tokens[name], router_path="/admin/users", client_token=tab.sock.client_token) as again:
            emails = _emails(_users_load(again))
        assert emails and all(e.endswith(own[name]) for e in emails), (name, emails)
