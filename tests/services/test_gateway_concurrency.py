"""64 real client threads authorize (with reservations) and report usage against one user's last 100,000
tokens, on SQLite and (with TEST_DATABASE_URL) PostgreSQL: the user never spends more than is left, every
settled report is counted exactly once (retries included), and at the end used + abandoned holds equals
exactly the 100,000 tokens that were left."""

import random
import time
from collections import Counter

from sqlmodel import Session, select

from models import Reservation, UsageEvent, User, utcnow
from services.gateway import authorization, balances, reports
from services.usage.ledger import gateway_actor
from tests.services.gateway_helpers import setup
from tests.services.test_concurrency import run_together

N_CLIENTS = 64
LEFT = 100_000


def test_64_clients_never_overspend_the_last_100k_tokens(engine, world, session):
    setup(world, session)
    alice = session.get(User, world.alice.id)
    alice.max_tokens = LEFT  # nothing used yet: exactly LEFT tokens remain
    session.add(alice)
    session.commit()
    org_id, user_id = world.org.id, alice.id

    def client(i, barrier):
        rng = random.Random(7000 + i)
        actor = gateway_actor(org_id)
        log = {"granted": [], "denied": 0, "reported": {}, "abandoned": 0, "retries": 0, "errors": [], "calls": 0}
        barrier.wait()
        want = rng.randint(50, 1500)
        with Session(engine, expire_on_commit=False) as s:
            while True:
                try:
                    d = authorization.authorize(s, actor=actor, user=user_id, model="gpt-4o", tokens=want, reserve=True)
                    s.commit()
                except Exception as exc:  # reported below, never retried
                    s.rollback()
                    log["errors"].append(f"authorize: {type(exc).__name__}: {exc}")
                    break
                log["calls"] += 1
                if not d.allowed:
                    log["denied"] += 1
                    assert d.reason == "monthly_cap_reached", d
                    if d.user_remaining == 0:
                        break
                    want = min(want, d.user_remaining)  # ask for what is left
                    continue
                log["granted"].append(d.reserved)
                roll = rng.random()
                if roll < 0.05:  # the call never happened: the hold stays until it expires
                    log["abandoned"] += d.reserved
                else:
                    spent = d.reserved if roll < 0.8 else rng.randint(0, d.reserved)
                    key = f"c{i}-{len(log['granted'])}"
                    ev = {"idempotency_key": key, "user": user_id, "model": "gpt-4o", "prompt_tokens": spent,
                          "reservation_id": d.reservation_id}
                    for attempt in range(2 if rng.random() < 0.25 else 1):  # some reports are retried
                        try:
                            res = reports.report_usage(s, actor=actor, events=[dict(ev)])
                            s.commit()
                            log["calls"] += 1
                        except Exception as exc:
                            s.rollback()
                            log["errors"].append(f"report {key}: {type(exc).__name__}: {exc}")
                            break
                        assert res[0].duplicate == (attempt == 1)
                        log["retries"] += attempt
                    log["reported"][key] = spent
                want = rng.randint(50, 1500)
        return log

    t0 = time.perf_counter()
    logs = run_together(N_CLIENTS, client)
    elapsed = time.perf_counter() - t0
    errors = [e for lg in logs for e in lg["errors"]]
    assert errors == [], f"{len(errors)} calls failed:\n" + "\n".join(errors[:10])

    reported = {k: v for lg in logs for k, v in lg["reported"].items()}
    abandoned = sum(lg["abandoned"] for lg in logs)
    granted = sum(sum(lg["granted"]) for lg in logs)
    rows = session.exec(select(UsageEvent).where(UsageEvent.user_id == user_id)).all()
    used = sum(r.billed_tokens for r in rows)
    # No event lost or double counted: exactly one ledger row per reported key, with the reported amount.
    assert Counter(r.idempotency_key for r in rows) == Counter(list(reported))
    assert {r.idempotency_key: r.billed_tokens for r in rows} == reported
    # Never overspent (usage only grows, so the final figure bounds every moment).
    assert used <= LEFT
    # Every client ran until nothing was left: usage plus abandoned holds use up exactly the last 100,000.
    held = sum(r.amount for r in session.exec(select(Reservation).where(Reservation.status == "held")).all())
    assert held == abandoned
    assert used + held == LEFT  # nothing left over, nothing spent twice
    left = balances.remaining_for(session, session.get(User, user_id), "tokens", utcnow())
    assert left.user_remaining == 0
    settled = session.exec(select(Reservation).where(Reservation.status == "settled")).all()
    assert len(settled) == len(reported)
    session.commit()
    calls = sum(lg["calls"] for lg in logs)
    print(f"\n[{engine.dialect.name}] {N_CLIENTS} clients: {calls} calls ({sum(lg['denied'] for lg in logs)} denied, "
          f"{len(reported)} usage events, {sum(lg['retries'] for lg in logs)} retried reports), granted {granted:,} "
          f"(partly re-granted after partial settlements), "
          f"used {used:,}, abandoned holds {abandoned:,}, overspend {max(0, used - LEFT)}, {elapsed:.1f} s")
