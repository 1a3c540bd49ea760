"""The gateway API over real HTTP: uvicorn serves the ASGI app on a loopback port (two app instances with their
own engines and group-commit writers stand for two worker processes), and real client threads fire concurrent
requests — on SQLite and (with TEST_DATABASE_URL) PostgreSQL:

- 64 clients authorizing (with reservations) and reporting against one user's last 100,000 tokens never
  overspend, and no event is lost or counted twice (retries included);
- the same idempotency key sent by many clients at once (to both instances, alone and inside batches) is
  recorded once, every answer says whether it was the one, and all agree on event id and billed tokens;
- bad requests sent together with good ones get their 404/422 and record nothing, the good ones are recorded.
"""

import random
from collections import Counter

from sqlmodel import select

from models import Reservation, UsageEvent, User
from services.gateway import balances
from services.usage.ledger import gateway_actor
from tests.services.gateway_helpers import client
from tests.services.test_concurrency import run_together

N_CLIENTS = 64
LEFT = 100_000


def test_64_http_clients_never_overspend_the_last_100k_tokens(http, session):
    alice = session.get(User, http.alice.id)
    alice.max_tokens = LEFT
    session.add(alice)
    session.commit()
    user_id = alice.id

    def run(i, barrier):
        rng = random.Random(9100 + i)
        log = {"granted": 0, "reported": {}, "abandoned": 0, "errors": []}
        with client(http, i) as c:
            barrier.wait()
            want = rng.randint(50, 1500)
            while True:
                r = c.post("/authorize", json={"user": user_id, "model": "gpt-4o", "tokens": want, "reserve": True})
                if r.status_code != 200:
                    log["errors"].append(f"authorize {r.status_code}: {r.text}")
                    break
                d = r.json()
                if not d["allowed"]:
                    if d["reason"] != "monthly_cap_reached":
                        log["errors"].append(f"unexpected denial {d}")
                        break
                    if d["user_remaining"] == 0:
                        break
                    want = min(want, d["user_remaining"])
                    continue
                log["granted"] += d["reserved"]
                roll = rng.random()
                if roll < 0.05:  # the call never happened: the hold stays until it expires
                    log["abandoned"] += d["reserved"]
                else:
                    spent = d["reserved"] if roll < 0.8 else rng.randint(0, d["reserved"])
                    key = f"h{i}-{len(log['reported'])}"
                    ev = {"idempotency_key": key, "user": user_id, "model": "gpt-4o", "prompt_tokens": spent,
                          "reservation_id": d["reservation_id"]}
                    for attempt in range(2 if rng.random() < 0.25 else 1):  # some reports are retried
                        r = c.post("/usage", json=ev)
                        if r.status_code != 200 or r.json()["results"][0]["duplicate"] != (attempt == 1):
                            log["errors"].append(f"usage {key} #{attempt}: {r.status_code} {r.text}")
                    log["reported"][key] = spent
                want = rng.randint(50, 1500)
        return log

    logs = run_together(N_CLIENTS, run)
    errors = [e for lg in logs for e in lg["errors"]]
    assert errors == [], "\n".join(errors[:10])
    reported = {k: v for lg in logs for k, v in lg["reported"].items()}
    rows = session.exec(select(UsageEvent).where(UsageEvent.user_id == user_id)).all()
    assert Counter(r.idempotency_key for r in rows) == Counter(list(reported))  # none lost, none twice
    assert {r.idempotency_key: r.billed_tokens for r in rows} == reported
    used = sum(r.billed_tokens for r in rows)
    held = sum(r.amount for r in session.exec(select(Reservation).where(Reservation.status == "held")).all())
    assert used <= LEFT  # never overspent (usage only grows: the final figure bounds every moment)
    assert held == sum(lg["abandoned"] for lg in logs)
    assert used + held == LEFT  # every client ran until nothing was left
    assert len(session.exec(select(Reservation).where(Reservation.status == "settled")).all()) == len(reported)
    session.commit()


def test_one_key_sent_by_many_clients_at_once_is_recorded_once(http, session):
    keys = [f"race-{k}" for k in range(8)]

    def run(i, barrier):
        rng = random.Random(i)
        mine = rng.sample(keys, 3)
        events = [{"idempotency_key": k, "user": http.alice.id, "model": "gpt-4o", "prompt_tokens": 10 + keys.index(k),
                   "completion_tokens": 1} for k in mine]
        body = events[0] if i % 3 == 0 else {"events": events}  # single events and batches, mixed
        with client(http, i) as c:
            barrier.wait()
            r = c.post("/usage", json=body)
        assert r.status_code == 200, r.text
        return r.json()["results"]

    answers = [a for results in run_together(32, run) for a in results]
    rows = session.exec(select(UsageEvent)).all()
    session.commit()
    stored = {r.idempotency_key: r for r in rows}
    assert Counter(r.idempotency_key for r in rows) == Counter({a["idempotency_key"] for a in answers})
    for key in stored:
        mine = [a for a in answers if a["idempotency_key"] == key]
        assert sum(not a["duplicate"] for a in mine) == 1, mine  # exactly one answer recorded it
        assert {(a["event_id"], a["billed_tokens"]) for a in mine} == {(stored[key].id, stored[key].billed_tokens)}
    total = balances.balance(session, actor=gateway_actor(http.org.id), user_id=http.alice.id)
    assert total["used_this_month"] == sum(r.billed_tokens for r in rows)  # rollups counted each once
    session.rollback()


def test_bad_requests_beside_good_ones_fail_alone(http, session):
    def run(i, barrier):
        ev = {"idempotency_key": f"g{i}", "user": http.alice.id, "model": "gpt-4o", "prompt_tokens": 5}
        if i % 4 == 1:
            ev["user"] = "ghost@a.test"  # unknown: found only by the writer's look-up
        elif i % 4 == 2:
            ev["model"] = "gpt-9"
        elif i % 4 == 3:
            ev = {"events": [dict(ev, idempotency_key=f"g{i}-a"),
                             dict(ev, idempotency_key=f"g{i}-b", user=http.carol.id)]}
        with client(http, i) as c:
            barrier.wait()
            r = c.post("/usage", json=ev)
        return i, r.status_code, r.json()

    results = run_together(32, run)
    for i, status, body in results:
        if i % 4 == 0:
            assert status == 200 and body["recorded"] == 1, body
        else:  # an unknown user or model, or another org's user
            assert status == 404 and body["fields"], body
    keys = sorted(session.exec(select(UsageEvent.idempotency_key)).all())
    session.commit()
    assert keys == sorted(f"g{i}" for i in range(32) if i % 4 == 0)
