"""A retried idempotency key over real HTTP (uvicorn, the group commit writer), on SQLite and PostgreSQL:

- the same key with the same event (as recorded: user, model, kind, tokens, and occurred_at / ip when the
  retry sends them) is answered `duplicate: true` with the first event's id and billed tokens;
- the same key with a different event is a 409 naming the key, alone or inside a batch ("events[i].
  idempotency_key"), and the whole request records nothing;
- clients racing with two different bodies under one new key: one body is recorded, every answer with that
  body is 200 (one recorded, the others duplicates), every answer with the other body is 409, and reports
  sent in the same burst under other keys are recorded.
"""

from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from models import UsageEvent, utcnow
from services.core.errors import Conflict
from services.gateway.reports import report_usage
from services.usage.ledger import gateway_actor
from tests.conftest import snapshot
from tests.services.gateway_helpers import client
from tests.services.test_concurrency import run_together

WHEN = (utcnow() - timedelta(days=2)).replace(microsecond=123456)


def event(w, key="k1", **kw) -> dict:
    return {"idempotency_key": key, "user": w.alice.id, "model": "gpt-4o", "prompt_tokens": 100,
            "completion_tokens": 10, "kind": "tokens", "occurred_at": WHEN.isoformat(), "ip": "10.0.0.1", **kw}


def post(w, body) -> httpx.Response:
    with client(w, 0) as c:
        return c.post("/usage", json=body)


def ledger(engine) -> dict:
    out = snapshot(engine)
    out.pop("rate_window"), out.pop("api_key")
    return out


def assert_conflict(r, field="idempotency_key", key="k1"):
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "conflict"
    assert body["message"].startswith(f"idempotency_key {key!r} was already used for a different event"), body
    assert [f["field"] for f in body["fields"]] == [field], body


def test_same_key_same_event_is_a_duplicate(http, engine):
    first = post(http, event(http))
    assert first.status_code == 200 and first.json()["recorded"] == 1, first.text
    recorded = first.json()["results"][0]
    before = ledger(engine)
    same = [
        event(http),
        event(http, user="ALICE@a.test"),  # the same user by email
        {k: v for k, v in event(http).items() if k not in ("occurred_at", "ip", "kind")},  # defaults: not compared
        event(http, occurred_at=WHEN.astimezone().isoformat()),  # the same instant in another offset
        event(http, occurred_at=WHEN.isoformat().replace("+00:00", "Z")),
    ]
    for body in same:
        r = post(http, body)
        assert r.status_code == 200, (body, r.text)
        assert r.json()["results"] == [dict(recorded, duplicate=True)], body
    assert ledger(engine) == before
    r = post(http, {"events": [event(http, key="k2"), event(http)]})
    assert r.status_code == 200 and (r.json()["recorded"], r.json()["duplicates"]) == (1, 1), r.text
    rows = ledger(engine)["usage_event"]
    assert len(rows) == 2 and rows[0] == before["usage_event"][0]


@pytest.mark.parametrize("change", [
    {"prompt_tokens": 101}, {"completion_tokens": 0}, {"model": "gpt-4o-mini"}, {"kind": "training"},
    {"user": "bob@a.test"}, {"occurred_at": (WHEN + timedelta(seconds=1)).isoformat()},
    {"occurred_at": (WHEN + timedelta(microseconds=1)).isoformat()}, {"ip": "10.0.0.2"},
    {"prompt_tokens": 0, "completion_tokens": 0},
], ids=lambda c: ",".join(c))
def test_same_key_different_event_is_409_and_changes_nothing(http, engine, change):
    assert post(http, event(http)).status_code == 200
    before = ledger(engine)
    r = post(http, event(http, **change))
    assert_conflict(r)
    assert all(name in r.json()["message"] for name in change), r.json()  # it says what differs
    r = post(http, {"events": [event(http, key="new-1"), event(http, **change), event(http, key="new-2")]})
    assert_conflict(r, field="events[1].idempotency_key")
    assert ledger(engine) == before  # the batch is atomic: new-1 and new-2 were not recorded either


def test_another_orgs_event_under_the_key_is_409(http, engine, session):
    assert post(http, event(http)).status_code == 200
    session.commit()
    before = ledger(engine)
    with pytest.raises(Conflict, match="idempotency_key 'k1' was already used for a different event"):
        report_usage(session, actor=gateway_actor(http.other_org.id), events=[
            {**event(http), "user": http.carol.id}])
    session.rollback()
    assert ledger(engine) == before


def test_a_retry_that_settles_a_reservation_with_another_event_is_409(http, engine):
    with client(http, 0) as c:
        d = c.post("/authorize", json={"user": http.alice.id, "model": "gpt-4o", "tokens": 500,
                                       "reserve": True}).json()
    body = event(http, key="r1", reservation_id=d["reservation_id"])
    assert post(http, body).json()["recorded"] == 1
    before = ledger(engine)
    assert post(http, body).json()["results"][0]["duplicate"] is True
    assert_conflict(post(http, dict(body, prompt_tokens=499)), key="r1")
    assert ledger(engine) == before


def test_racing_bodies_under_one_key_one_wins_and_others_are_recorded(http, engine, session):
    bodies = [event(http, key="race", prompt_tokens=100), event(http, key="race", prompt_tokens=200)]

    def run(i, barrier):
        if i % 4 == 3:  # an unrelated report in the same burst
            body = event(http, key=f"other-{i}")
        elif i % 8 < 4:
            body = bodies[i % 2]
        else:  # inside a batch beside a new event
            body = {"events": [event(http, key=f"beside-{i}"), bodies[i % 2]]}
        with client(http, i) as c:
            barrier.wait()
            r = c.post("/usage", json=body)
        return i, body, r.status_code, r.json()

    answers = run_together(32, run)
    rows = {r.idempotency_key: r for r in session.exec(select(UsageEvent)).all()}
    session.commit()
    winner = next(b for b in bodies if b["prompt_tokens"] == rows["race"].prompt_tokens)
    recorded_race = 0
    for _i, body, status, out in answers:
        batch = "events" in body
        racing = body["events"][1] if batch else body
        if racing["idempotency_key"] != "race":
            assert status == 200 and out["recorded"] == 1, out
        elif racing is winner:
            assert status == 200, out
            race = out["results"][-1]
            assert (race["event_id"], race["billed_tokens"]) == (rows["race"].id, rows["race"].billed_tokens)
            recorded_race += not race["duplicate"]
            assert not batch or not out["results"][0]["duplicate"]
        else:
            assert status == 409, out
            assert [f["field"] for f in out["fields"]] == ["events[1].idempotency_key" if batch else "idempotency_key"]
            assert not batch or body["events"][0]["idempotency_key"] not in rows  # its batch recorded nothing
    assert recorded_race == 1
    expected = {"race"} | {f"other-{i}" for i in range(32) if i % 4 == 3} | {
        f"beside-{i}" for i, body, status, _ in answers if "events" in body and status == 200}
    assert set(rows) == expected
