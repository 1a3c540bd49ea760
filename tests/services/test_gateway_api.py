"""The /api/v1 ASGI app through Starlette's TestClient on the real database (SQLite and PostgreSQL):
authentication (401/403), org scope (404), validation (422 with field messages, nothing recorded),
conflicts (409), rate limit (429), idempotent retries, the authorize → usage flow, and a hypothesis fuzz."""

import json
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import Session, select
from starlette.testclient import TestClient

from admin_panel.api import create_api
from models import UsageEvent, utcnow
from services.core import settings
from services.gateway import api_keys
from tests.conftest import snapshot
from tests.services.gateway_helpers import setup


@pytest.fixture
def env(engine, world, session):
    setup(world, session)
    now = utcnow()
    admin = replace(world.actor(world.admin), mfa_verified_at=now)
    other = replace(world.actor(world.other_admin), mfa_verified_at=now)
    with Session(engine, expire_on_commit=False) as s:
        key = api_keys.create_key(s, actor=admin, name="gateway")
        revoked = api_keys.create_key(s, actor=admin, name="old")
        api_keys.revoke_key(s, actor=admin, key_id=revoked.view.id)
        other_key = api_keys.create_key(s, actor=other, name="b")
        s.commit()
    client = TestClient(create_api(engine), raise_server_exceptions=True)
    world.client = client
    world.engine = engine
    world.h = {"Authorization": f"Bearer {key.secret}"}
    world.revoked_h = {"Authorization": f"Bearer {revoked.secret}"}
    world.other_h = {"X-API-Key": other_key.secret}
    world.key_id = key.view.id
    return world


def snap(engine) -> dict:
    """Every table except the per-request bookkeeping (rate windows, keys' last use)."""
    out = snapshot(engine)
    out.pop("rate_window"), out.pop("api_key")
    return out


def ev(w, key="e1", **kw):
    return {"idempotency_key": key, "user": w.alice.id, "model": "gpt-4o", "prompt_tokens": 100,
            "completion_tokens": 10, **kw}


def fields(r) -> dict:
    return {f["field"]: f["message"] for f in r.json()["fields"]}


def test_authorize_then_usage_flow(env, session):
    c, h = env.client, env.h
    r = c.post("/api/v1/authorize", headers=h, json={"user": "alice@a.test", "model": "gpt-4o", "tokens": 500,
                                                      "reserve": True})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["allowed"] is True and d["reason"] == "ok" and d["reserved"] == 500 and d["reservation_id"]
    r = c.post("/api/v1/usage", headers=h, json=ev(env, reservation_id=d["reservation_id"]))
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 1 and r.json()["results"][0]["billed_tokens"] == 130  # 100×1 + 10×3
    again = c.post("/api/v1/usage", headers=h, json=ev(env, reservation_id=d["reservation_id"]))
    assert again.json()["duplicates"] == 1 and again.json()["results"][0]["duplicate"] is True
    b = c.get(f"/api/v1/users/{env.alice.id}/balance", headers=h).json()
    assert (b["used_this_month"], b["reserved"], b["user_remaining"]) == (130, 0, 500_000 - 130)
    s = c.get("/api/v1/org/summary", headers=h).json()
    assert s["org_id"] == env.org.id and s["tokens"]["used_this_month"] == 130
    other = c.post("/api/v1/usage", headers=h, json=ev(env, key="e2", reservation_id=d["reservation_id"]))
    assert other.status_code == 409 and other.json()["error"] == "conflict"


def test_denied_answers_carry_a_reason(env):
    r = env.client.post("/api/v1/authorize", headers=env.h, json={"user": 10**6, "model": "gpt-4o", "tokens": 1})
    assert r.status_code == 200 and r.json()["reason"] == "unknown_user" and r.json()["allowed"] is False
    r = env.client.post("/api/v1/authorize", headers=env.h, json={"user": env.alice.id, "model": "gpt-4o",
                                                                   "tokens": 500_001})
    assert r.json()["reason"] == "monthly_cap_reached" and r.json()["user_remaining"] == 500_000


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer stw_" + "x" * 43},
                                     {"X-API-Key": ""}, {"Authorization": "Basic abc"}])
def test_bad_key_is_401(env, headers, engine):
    before = snap(engine)
    for method, path in (("post", "/api/v1/usage"), ("post", "/api/v1/authorize"), ("get", "/api/v1/org/summary"),
                         ("get", f"/api/v1/users/{env.alice.id}/balance")):
        r = getattr(env.client, method)(path, headers=headers, **({"json": ev(env)} if method == "post" else {}))
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text)
    assert snap(engine) == before


def test_revoked_key_is_403(env, engine):
    before = snap(engine)
    r = env.client.post("/api/v1/usage", headers=env.revoked_h, json=ev(env))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert snap(engine) == before


def test_other_org_objects_are_404(env, engine):
    c = env.client
    assert c.get(f"/api/v1/users/{env.carol.id}/balance", headers=env.h).status_code == 404
    assert c.get(f"/api/v1/users/{env.alice.id}/balance", headers=env.other_h).status_code == 404
    for bad in ("abc", "0", "99999999999999999999999"):
        r = c.get(f"/api/v1/users/{bad}/balance", headers=env.h)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert c.get("/api/v1/nothing", headers=env.h).status_code == 404
    r = c.get("/api/v1/usage", headers=env.h)
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/json")
    before = snap(engine)
    r = c.post("/api/v1/usage", headers=env.other_h, json=ev(env))  # alice is not in org B: like a missing user
    assert r.status_code == 404 and "user" in fields(r) and r.json()["error"] == "not_found"
    assert snap(engine) == before


ROUTES = {"/api/v1/usage": "POST", "/api/v1/authorize": "POST", "/api/v1/users/1/balance": "GET, HEAD",
          "/api/v1/org/summary": "GET, HEAD", "/api/v1/openapi.json": "GET, HEAD"}


@pytest.mark.parametrize("method", ["TRACE", "PUT", "PATCH", "DELETE", "OPTIONS", "GET", "POST"])
def test_unsupported_methods_are_405_with_allow(env, engine, method):
    before = snap(engine)
    for path, allow in ROUTES.items():
        if method in allow.split(", "):
            continue
        for headers in (env.h, {}):  # the method is refused before the key is looked at
            r = env.client.request(method, path, headers=headers, json=ev(env))
            assert r.status_code == 405, (method, path, r.text)
            assert r.headers["allow"] == allow, (method, path, r.headers)
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["error"] == "method_not_allowed" and method in r.json()["message"]
    assert snap(engine) == before


@pytest.mark.parametrize("method", ["GET", "POST", "TRACE", "DELETE"])
@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/usage/x", "/api/v1/", "/api/v1/users/1/balance/x",
                                  "/api/v1/users/a%0Ab/balance", "/api/v1/%0A"])  # a newline: no route matches
def test_unknown_paths_are_json_404(env, method, path):
    r = env.client.request(method, path, headers=env.h)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/json") and r.json()["error"] == "not_found"
    assert "allow" not in r.headers


@pytest.mark.parametrize("body,field", [
    (b"{not json", "body"), (b"", "body"), (b"[1, 2]", "body"), (b'"text"', "body"),
    (b'{"idempotency_key": "a", "user": 1, "model": "gpt-4o", "prompt_tokens": NaN}', "body"),
    (b'{"idempotency_key": "a", "user": 1, "model": "gpt-4o", "prompt_tokens": ' + b"9" * 5000 + b"}", "body"),
])
def test_malformed_json_is_422(env, engine, body, field):
    before = snap(engine)
    r = env.client.post("/api/v1/usage", headers={**env.h, "Content-Type": "application/json"}, content=body)
    assert r.status_code == 422, r.text
    assert field in fields(r) and r.json()["error"] == "validation_error"
    assert snap(engine) == before


@pytest.mark.parametrize("change,field", [
    ({"prompt_tokens": -1}, "prompt_tokens"), ({"completion_tokens": 2**63}, "completion_tokens"),
    ({"prompt_tokens": 1e300}, "prompt_tokens"), ({"prompt_tokens": "many"}, "prompt_tokens"),
    ({"prompt_tokens": 1.5}, "prompt_tokens"), ({"prompt_tokens": [1]}, "prompt_tokens"),
    ({"model": None}, "model"), ({"kind": "x"}, "kind"), ({"user": True}, "user"),
    ({"idempotency_key": "k" * 201}, "idempotency_key"),
    ({"idempotency_key": None}, "idempotency_key"), ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"), ({"ip": "1" * 46}, "ip"), ({"colour": "red"}, "colour"),
    ({"occurred_at": (utcnow() - timedelta(days=401)).isoformat()}, "occurred_at"),
    ({"occurred_at": "0001-01-01T00:00:00Z"}, "occurred_at"),
    ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
    ({"occurred_at": "9999-12-31T23:00:00-05:00"}, "occurred_at"),
    ({"occurred_at": (utcnow() + timedelta(days=2)).isoformat()}, "occurred_at"),
])
def test_bad_fields_are_422_with_field_messages(env, engine, change, field):
    before = snap(engine)
    body = dict({**ev(env), **change}.items())
    r = env.client.post("/api/v1/usage", headers=env.h, json=body)
    assert r.status_code == 422, r.text
    assert field in fields(r), r.json()
    assert snap(engine) == before


@pytest.mark.parametrize("change,field", [
    ({"model": "gpt-9"}, "model"), ({"user": "ghost@a.test"}, "user"), ({"user": 10**6}, "user"),
    ({"reservation_id": "rsv_nope"}, "reservation_id"),
])
def test_unknown_users_models_reservations_are_404_with_the_field(env, engine, change, field):
    """Schema-valid bodies naming something that does not exist (or is another org's): 404, like a path."""
    before = snap(engine)
    r = env.client.post("/api/v1/usage", headers=env.h, json=ev(env, **change))
    assert r.status_code == 404 and r.json()["error"] == "not_found" and field in fields(r), r.text
    batch = {"events": [ev(env, key="x1"), ev(env, key="x2", **change)]}
    r = env.client.post("/api/v1/usage", headers=env.h, json=batch)
    assert r.status_code == 404 and set(fields(r)) == {f"events[1].{field}"}, r.text
    mixed = {"events": [ev(env, key="x3", prompt_tokens=-1), ev(env, key="x4", **change)]}  # also a bad field: 422
    r = env.client.post("/api/v1/usage", headers=env.h, json=mixed)
    named = {"events[0].prompt_tokens"} | ({f"events[1].{field}"} if field != "reservation_id" else set())
    assert r.status_code == 422 and set(fields(r)) == named, r.text  # (reservations are looked up later)
    r = env.client.post("/api/v1/authorize", headers=env.h, json={"user": env.alice.id, "model": "gpt-9", "tokens": 5})
    assert r.status_code == 404 and "model" in fields(r), r.text
    assert snap(engine) == before


def test_integers_written_as_floats_are_integers(env):
    """JSON (and the schema's "integer") does not tell 5 from 5.0: both are accepted wherever a whole number is."""
    r = env.client.post("/api/v1/authorize", headers=env.h,
                        json={"user": float(env.alice.id), "model": "gpt-4o", "tokens": 5.0, "ttl_seconds": 419.0,
                              "reserve": True})
    assert r.status_code == 200 and r.json()["allowed"] is True, r.text
    r = env.client.post("/api/v1/usage", headers=env.h, json=ev(env, user=float(env.alice.id), prompt_tokens=100.0))
    assert r.status_code == 200 and r.json()["recorded"] == 1, r.text
    for body in ({"user": 1.5, "model": "gpt-4o", "tokens": 5}, {"user": 1, "model": "gpt-4o", "tokens": 5,
                                                                 "ttl_seconds": 2.5}):
        assert env.client.post("/api/v1/authorize", headers=env.h, json=body).status_code == 422


def test_a_batch_repeating_a_key_is_409(env, engine):
    before = snap(engine)
    r = env.client.post("/api/v1/usage", headers=env.h, json={"events": [ev(env), ev(env, key="e2"), ev(env)]})
    assert r.status_code == 409 and r.json()["error"] == "conflict", r.text
    assert set(fields(r)) == {"events[2].idempotency_key"} and "'e1'" in r.json()["message"]
    assert snap(engine) == before


def test_occurred_at_inside_the_window_is_accepted(env):
    now = utcnow()
    for i, when in enumerate((now - timedelta(days=399), now + timedelta(minutes=4))):
        r = env.client.post("/api/v1/usage", headers=env.h, json=ev(env, key=f"t{i}", occurred_at=when.isoformat()))
        assert r.status_code == 200 and r.json()["recorded"] == 1, r.text
    r = env.client.post("/api/v1/usage", headers=env.h, json={"events": [
        ev(env, key="t2"), ev(env, key="t3", occurred_at=(now - timedelta(days=401)).isoformat()),
        ev(env, key="t4", occurred_at=(now + timedelta(minutes=6)).isoformat())]})
    assert r.status_code == 422 and set(fields(r)) == {"events[1].occurred_at", "events[2].occurred_at"}
    assert "400 days" in fields(r)["events[1].occurred_at"] and "5 minutes" in fields(r)["events[2].occurred_at"]


def test_batch_errors_name_each_event_and_record_nothing(env, engine, session):
    before = snap(engine)
    batch = [ev(env, key=f"b{i}") for i in range(5)]
    batch[1]["prompt_tokens"] = -3
    batch[3]["model"] = "nope"
    r = env.client.post("/api/v1/usage", headers=env.h, json={"events": batch})
    assert r.status_code == 422
    assert set(fields(r)) == {"events[1].prompt_tokens", "events[3].model"}
    assert snap(engine) == before
    r = env.client.post("/api/v1/usage", headers=env.h, json={"events": [ev(env, key=f"x{i}") for i in range(1001)]})
    assert r.status_code == 422 and "events" in fields(r)
    assert env.client.post("/api/v1/usage", headers=env.h, json={"events": []}).status_code == 422
    assert env.client.post("/api/v1/usage", headers=env.h, json={"events": [ev(env)], "x": 1}).status_code == 422
    assert snap(engine) == before
    good = env.client.post("/api/v1/usage", headers=env.h, json={"events": [ev(env, key=f"g{i}") for i in range(1000)]})
    assert good.status_code == 200 and good.json()["recorded"] == 1000
    assert len(session.exec(select(UsageEvent)).all()) == 1000
    session.commit()


def test_oversized_body_is_413(env, monkeypatch):
    monkeypatch.setattr(settings, "GATEWAY_MAX_BODY_BYTES", 1000)
    r = env.client.post("/api/v1/usage", headers=env.h, json={"events": [ev(env, key=f"g{i}") for i in range(50)]})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


@pytest.mark.parametrize("body,field", [
    ({"user": 1, "model": "gpt-4o"}, "tokens"), ({"user": 1, "model": "gpt-4o", "tokens": -5}, "tokens"),
    ({"user": 1, "model": "gpt-4o", "tokens": 5, "x": 1}, "x"),
    ({"user": 1, "model": "gpt-4o", "tokens": 5, "reserve": 1}, "reserve"),
])
def test_authorize_validation(env, engine, body, field):
    before = snap(engine)
    r = env.client.post("/api/v1/authorize", headers=env.h, json=body)
    assert r.status_code == 422 and field in fields(r), r.text
    assert snap(engine) == before


def test_rate_limit_is_429_per_key(env, monkeypatch):
    monkeypatch.setattr(settings, "GATEWAY_RATE_LIMIT", 3)
    monkeypatch.setattr(settings, "GATEWAY_RATE_BACKEND", "db")
    monkeypatch.setattr(settings, "GATEWAY_RATE_WINDOW_SECONDS", 3600)
    codes = [env.client.get("/api/v1/org/summary", headers=env.h).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = env.client.get("/api/v1/org/summary", headers=env.h)
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["error"] == "rate_limited"
    assert env.client.get("/api/v1/org/summary", headers=env.other_h).status_code == 200  # another key


def test_rate_limit_in_redis(env, monkeypatch):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, db=7).ping()
    except Exception:
        pytest.skip("no local Redis")
    monkeypatch.setenv("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/7")
    monkeypatch.setattr(settings, "GATEWAY_RATE_LIMIT", 2)
    monkeypatch.setattr(settings, "GATEWAY_RATE_BACKEND", "auto")
    monkeypatch.setattr(settings, "GATEWAY_RATE_WINDOW_SECONDS", 3600)
    redis.Redis(host="127.0.0.1", port=6379, db=7).flushdb()
    codes = [env.client.get("/api/v1/org/summary", headers=env.h).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_last_used_is_recorded(env, session):
    from models import ApiKey

    assert session.get(ApiKey, env.key_id).last_used_at is None
    session.commit()
    env.client.get("/api/v1/org/summary", headers=env.h)
    assert session.get(ApiKey, env.key_id, populate_existing=True).last_used_at is not None
    session.commit()


def test_name_patterns_are_what_the_api_checks():
    """NOT_BLANK / NO_NUL accept a one-character key, model or ip exactly when the API does, under Python's
    regexes (schemathesis generates with them) and Rust's (it validates with jsonschema_rs)."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    from admin_panel.api.openapi import NO_NUL, NOT_BLANK
    from services.usage.event_checks import check_event

    not_blank = jsonschema_rs.validator_for({"type": "string", "pattern": NOT_BLANK})
    no_nul = jsonschema_rs.validator_for({"type": "string", "pattern": NO_NUL})
    now = utcnow()
    for c in map(chr, (*range(0xD800), *range(0xE000, 0x10000))):
        errors: list = []
        check_event(0, {"idempotency_key": c, "user": 1, "model": c, "ip": c}, now, errors)
        bad = {f for _, f, *_ in errors}
        ok = "idempotency_key" not in bad
        assert not_blank.is_valid(c) == (re.search(NOT_BLANK, c) is not None) == ok, hex(ord(c))
        assert ("model" not in bad) == not_blank.is_valid(c) and ("ip" not in bad) == no_nul.is_valid(c), hex(ord(c))


def test_openapi_document(env):
    doc = env.client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/usage", "/authorize", "/users/{user_id}/balance", "/org/summary", "/openapi.json"}
    assert doc["components"]["schemas"]["UsageBatch"]["properties"]["events"]["maxItems"] == 1000
    json.dumps(doc)


# --- fuzzing ------------------------------------------------------------------------------------------
# Bodies from junk (any JSON: huge numbers, floats, NUL characters, nesting) to nearly valid events with one
# field wrong, alone and in batches. Every answer is 200 or a JSON error with field messages (422, or 409
# for a reservation conflict); an answer other than 200 records nothing (ledger, rollups, reservations,
# notices); a 200 records exactly the events it says it recorded.
FUZZ_EXAMPLES = 150
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-2**80, 2**80) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30) | st.sampled_from(["", " ", "\x00", "-1", "9" * 30, "1e3", "2024-13-45"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
    max_leaves=12)
TOKENS = st.integers(0, 10**6) | st.sampled_from([-1, 2**63, 2**63 - 1, 2**62, 1.5, 1e300, "12", "x", None, True])
GOOD = {"idempotency_key": st.text(min_size=1, max_size=40).filter(lambda k: k.strip() and "\x00" not in k),
        "user": st.sampled_from(["alice@a.test", "BOB@a.test"]), "model": st.sampled_from(["gpt-4o", "gpt-4o-mini"]),
        "prompt_tokens": st.integers(0, 10**6), "completion_tokens": st.integers(0, 10**6),
        "kind": st.sampled_from(["tokens", "training"]),
        "occurred_at": st.just((utcnow() - timedelta(days=30)).isoformat()),
        "ip": st.sampled_from(["", "10.0.0.1", "::1"])}
BAD = {"idempotency_key": JSONISH | st.just("k" * 201), "user": JSONISH | st.sampled_from(["ghost@a.test", 10**6, 0]),
       "model": JSONISH | st.sampled_from(["nope", ""]), "prompt_tokens": TOKENS, "completion_tokens": TOKENS,
       "kind": JSONISH, "occurred_at": JSONISH | st.just("2999-01-01T00:00:00Z"), "ip": JSONISH | st.just("1" * 46),
       "reservation_id": JSONISH | st.just("rsv_nope"), "colour": JSONISH}


@st.composite
def mutated(draw, good: dict, bad: dict, required: tuple, most: int):
    """A valid body (required fields, some optional ones), or one with up to `most` fields replaced by bad
    values or left out."""
    body = {k: draw(v) for k, v in good.items() if k in required or draw(st.booleans())}
    for field in draw(st.lists(st.sampled_from(sorted(bad)), max_size=most, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            body.pop(field, None)
        else:
            body[field] = draw(bad[field])
    return body


def usage_event():
    return mutated(GOOD, BAD, ("idempotency_key", "user", "model"), 3)


USAGE_BODIES = (JSONISH | usage_event() | st.fixed_dictionaries({"events": st.lists(usage_event(), max_size=6)})
                | st.fixed_dictionaries({"events": JSONISH}))


def state(engine) -> tuple:
    """What a usage report or an authorization may change (counts and totals of every affected table)."""
    with engine.connect() as c:
        return tuple(c.exec_driver_sql(q).one() for q in (
            "SELECT count(*), coalesce(sum(billed_tokens), 0) FROM usage_event",
            "SELECT count(*), coalesce(sum(billed_tokens), 0), coalesce(sum(events), 0) FROM usage_daily",
            "SELECT count(*), coalesce(sum(billed_tokens), 0) FROM usage_hourly",
            "SELECT count(*), coalesce(sum(billed_tokens), 0) FROM usage_user_monthly",
            "SELECT count(*), coalesce(sum(billed_tokens), 0) FROM usage_user_daily",
            "SELECT count(*), coalesce(sum(amount), 0) FROM reservation",
            "SELECT count(*) FROM notice"))


def assert_error_shape(r):
    body = r.json()
    assert set(body) == {"error", "message", "fields"} and isinstance(body["message"], str) and body["message"]
    assert all(set(f) == {"field", "message"} and f["field"] and f["message"] for f in body["fields"])
    if r.status_code == 422:
        assert body["error"] == "validation_error" and body["fields"], body


@hsettings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=USAGE_BODIES)
def test_fuzz_usage_answers_422_with_fields_and_records_nothing(env, body):
    before = state(env.engine)
    r = env.client.post("/api/v1/usage", headers=env.h, json=body)
    event(f"HTTP {r.status_code}")  # --hypothesis-show-statistics: both outcomes are exercised
    assert r.status_code in (200, 404, 409, 422), r.text
    assert r.headers["content-type"].startswith("application/json")
    after = state(env.engine)
    if r.status_code != 200:
        assert_error_shape(r)
        assert after == before
        return
    out = r.json()
    n = len(body["events"]) if isinstance(body, dict) and "events" in body else 1
    assert out["recorded"] + out["duplicates"] == n == len(out["results"])
    assert after[0][0] - before[0][0] == out["recorded"]
    assert after[0][1] - before[0][1] == sum(x["billed_tokens"] for x in out["results"] if not x["duplicate"])
    assert after[1][2] - before[1][2] == out["recorded"]  # the rollups counted each new event once


@hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_usage_raw_bytes(env, raw):
    before = state(env.engine)
    r = env.client.post("/api/v1/usage", headers={**env.h, "Content-Type": "application/json"}, content=raw)
    assert r.status_code in (200, 404, 409, 422), r.text
    if r.status_code != 200:
        assert_error_shape(r)
        assert state(env.engine) == before


AUTH_GOOD = {"user": st.sampled_from(["alice@a.test", "bob@a.test"]),
             "model": st.sampled_from(["gpt-4o", "gpt-4o-mini"]),
             "tokens": st.integers(1, 10**6), "kind": st.sampled_from(["tokens", "training"]), "reserve": st.booleans(),
             "ttl_seconds": st.integers(1, 3600)}
AUTH_BAD = {"user": JSONISH | st.sampled_from(["ghost@a.test", 10**30, "alice"]), "model": JSONISH | st.just("nope"),
            "tokens": TOKENS | st.just(0), "kind": JSONISH, "reserve": JSONISH, "ttl_seconds": TOKENS | st.just(0),
            "colour": JSONISH}


def authorize_body():
    return mutated(AUTH_GOOD, AUTH_BAD, ("user", "model", "tokens"), 2)


@hsettings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=JSONISH | authorize_body())
def test_fuzz_authorize_answers_422_with_fields_and_holds_nothing(env, body):
    from services.gateway.authorization import REASONS

    before = state(env.engine)
    r = env.client.post("/api/v1/authorize", headers=env.h, json=body)
    event(f"HTTP {r.status_code}")
    assert r.status_code in (200, 404, 422), r.text
    after = state(env.engine)
    if r.status_code != 200:
        assert_error_shape(r)
        assert after == before
        return
    d = r.json()
    assert d["reason"] in REASONS and d["allowed"] == (d["reason"] == "ok")
    held = d["allowed"] and body.get("reserve") is True
    assert (d["reservation_id"] is not None) == held
    assert after[5][0] - before[5][0] == (1 if held else 0) and after[:5] == before[:5]
