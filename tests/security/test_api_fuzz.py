"""Schemathesis against the real backend (`reflex run --env prod --backend-only`, fixture `app_url`): every
operation of `/api/v1/openapi.json` with a real API key of org Alpha, all checks (status codes, content
types, response schemas, headers, positive data accepted, negative data rejected, unsupported methods
answered 405 with Allow, auth actually checked, …), a bounded number of examples per operation and a fixed
seed (STEWARD_FUZZ_SEED picks another). No failure is allowed; the report is printed when there is one.

Only 127.0.0.1 is reached: the document's server is the relative "/api/v1" and proxies are switched off.
The key's rate limit (STEWARD_GATEWAY_RATE_LIMIT, 6,000 a minute) is far above the ~600 requests of a run,
and 429 would not fail a check anyway (it is documented on every operation). The one rule JSON Schema can't
state (the occurred_at window) is handled by tests/security/fuzz_hooks.py.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from sqlmodel import Session

from models import utcnow
from services.core.actor import Actor
from services.gateway import api_keys
from tests.e2e.conftest import ROOT, VENV_BIN

from .world import World

MAX_EXAMPLES = 50
SEED = os.environ.get("STEWARD_FUZZ_SEED", "20261204")
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def api_key(world: World) -> str:
    """A new API key of org Alpha, created by its admin through the services (with a fresh MFA step-up)."""
    admin = Actor(world.ids["alpha_admin"], "admin", world.alpha_id, email=world.emails["alpha_admin"],
                  mfa_verified_at=utcnow())
    eng = world.engine()
    try:
        with Session(eng, expire_on_commit=False) as s:
            key = api_keys.create_key(s, actor=admin, name="schemathesis")
            s.commit()
        return key.secret
    finally:
        eng.dispose()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(NO_PROXY="*", SCHEMATHESIS_HOOKS="tests.security.fuzz_hooks", PYTHONPATH=str(ROOT))
    return env


def test_the_api_passes_every_schemathesis_check(app_url: str, api_key: str, tmp_path) -> None:
    cmd = [str(VENV_BIN / "st"), "run", f"{app_url}/api/v1/openapi.json",
           "--header", f"Authorization: Bearer {api_key}",
           "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", SEED, "--workers", "1",
           "--generation-database", "none", "--request-timeout", "30", "--no-color", "--output-sanitize", "true"]
    # cwd: a scratch directory, so that nothing schemathesis writes lands in the checkout.
    run = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S,
                         stdin=subprocess.DEVNULL)
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis found failures (seed {SEED}):\n{report[-25000:]}"
    assert " passed" in report and "generated" in report, report[-5000:]  # it did run the operations
