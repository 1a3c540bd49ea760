"""services.gateway.group_commit: requests queued while the writer is busy are handled together in one transaction,
each gets its own answer (recorded / duplicate, its decision, or its own error), and a group whose
transaction fails as a whole is retried request by request so that only the culprit fails."""

import threading

import pytest
from sqlmodel import select

from models import Reservation, UsageEvent, utcnow
from services.core.errors import Conflict, NotFound
from services.gateway import authorization, group_commit, reports
from services.usage import event_checks, ledger
from tests.services.gateway_helpers import event, setup


@pytest.fixture
def w(world, session):
    return setup(world, session)


def report(w, *events, org=None):
    now = utcnow()
    return reports.UsageReport((org or w.org).id, event_checks.check_events(list(events), now))


def held_writer(engine, monkeypatch):
    """A writer whose first group waits for `release` (so the next requests queue up behind it)."""
    gate, started = threading.Event(), threading.Event()
    real = group_commit.process
    calls = []

    def process(db, items, now):
        calls.append(len(items))
        if len(calls) == 1:
            started.set()
            assert gate.wait(30)
        return real(db, items, now)

    monkeypatch.setattr(group_commit, "process", process)
    return group_commit.Writer(engine), gate, started, calls


def test_queued_requests_share_one_transaction_and_keep_their_own_answers(engine, w, session, monkeypatch):
    writer, gate, started, calls = held_writer(engine, monkeypatch)
    first = writer.submit(report(w, event(w.alice.id, 1, key="first")))
    assert started.wait(30)
    futures = [
        writer.submit(report(w, event(w.alice.id, 10, key="a"), event(w.bob.id, 20, key="b"))),
        writer.submit(report(w, event("ghost@a.test", 5, key="ghost"))),  # unknown user: fails alone
        writer.submit(report(w, event(w.alice.id, 10, key="a"))),  # same key and event as above, same group
        writer.submit(report(w, event(w.alice.id, 30, key="a"), event(w.bob.id, 1, key="c"))),  # a reused key
        writer.submit(authorization.check_ask(w.org.id, user=w.alice.id, model="gpt-4o", tokens=100, reserve=True)),
        writer.submit(authorization.check_ask(w.org.id, user=w.alice.id, model="gpt-9", tokens=1)),  # unknown model
        writer.submit(report(w, event(w.carol.id, 7, key="carol"), org=w.other_org)),  # another org's report
    ]
    gate.set()
    assert [r.duplicate for r in first.result(30)] == [False]
    ab, ghost, again, reused, ask, bad_model, carol = (f.exception(30) or f.result(30) for f in futures)
    assert calls == [1, 7]  # the seven queued requests went in one group
    assert [(r.idempotency_key, r.duplicate, r.billed_tokens) for r in ab] == [("a", False, 10), ("b", False, 20)]
    assert isinstance(ghost, NotFound) and ghost.field == "user"
    assert [(r.duplicate, r.event_id, r.billed_tokens) for r in again] == [(True, ab[0].event_id, 10)]
    assert isinstance(reused, Conflict) and reused.field == "idempotency_key" and "'a'" in reused.message
    assert [(i, f) for i, f, *_ in reused.event_errors] == [(0, "idempotency_key")]  # "c" is not recorded either
    assert ask.allowed and ask.reserved == 100
    assert isinstance(bad_model, NotFound) and bad_model.field == "model"
    assert [r.duplicate for r in carol] == [False]
    rows = {e.idempotency_key: (e.org_id, e.billed_tokens) for e in session.exec(select(UsageEvent)).all()}
    assert rows == {"first": (w.org.id, 1), "a": (w.org.id, 10), "b": (w.org.id, 20), "carol": (w.other_org.id, 7)}
    assert [r.amount for r in session.exec(select(Reservation)).all()] == [100]
    session.commit()


def test_decisions_in_one_group_count_the_holds_granted_before_them(engine, w, session, monkeypatch):
    writer, gate, started, calls = held_writer(engine, monkeypatch)
    writer.submit(report(w, event(w.bob.id, 1)))
    assert started.wait(30)
    asks = [writer.submit(authorization.check_ask(w.org.id, user=w.alice.id, model="gpt-4o", tokens=200_000,
                                                  reserve=True))
            for _ in range(3)]  # alice's cap is 500,000
    gate.set()
    answers = [f.result(30) for f in asks]
    assert calls[1] == 3
    assert [(d.allowed, d.reason) for d in answers] == [(True, "ok"), (True, "ok"), (False, "monthly_cap_reached")]
    assert answers[2].user_remaining == 100_000


def test_a_failing_group_is_retried_request_by_request(engine, w, session, monkeypatch):
    writer, gate, started, calls = held_writer(engine, monkeypatch)
    real_insert = ledger.insert_new

    def insert_new(db, rows, now):  # a database error caused by one request's rows
        if any(p.idempotency_key == "poison" for p in rows):
            raise RuntimeError("the database refused the row")
        return real_insert(db, rows, now)

    monkeypatch.setattr(ledger, "insert_new", insert_new)
    writer.submit(report(w, event(w.bob.id, 1, key="warm")))
    assert started.wait(30)
    good = writer.submit(report(w, event(w.alice.id, 5, key="good")))
    poison = writer.submit(report(w, event(w.alice.id, 5, key="poison")))
    also_good = writer.submit(report(w, event(w.bob.id, 6, key="also-good")))
    gate.set()
    assert [r.duplicate for r in good.result(30)] == [False]
    assert isinstance(poison.exception(30), RuntimeError)
    assert [r.duplicate for r in also_good.result(30)] == [False]
    assert calls == [1, 3, 1, 1, 1]  # the group of three failed, then each alone
    keys = sorted(session.exec(select(UsageEvent.idempotency_key)).all())
    assert keys == ["also-good", "good", "warm"]
    session.commit()


def test_a_reservation_settled_twice_in_one_group(engine, w, session, monkeypatch):
    d = authorization.decide(session, [authorization.check_ask(w.org.id, user=w.alice.id, model="gpt-4o", tokens=500,
                                                         reserve=True)], utcnow())[0]
    session.commit()
    writer, gate, started, calls = held_writer(engine, monkeypatch)
    writer.submit(report(w, event(w.bob.id, 1)))
    assert started.wait(30)
    first = writer.submit(report(w, event(w.alice.id, 400, key="s1", reservation_id=d.reservation_id)))
    retry = writer.submit(report(w, event(w.alice.id, 400, key="s1", reservation_id=d.reservation_id)))
    other = writer.submit(report(w, event(w.alice.id, 10, key="s2", reservation_id=d.reservation_id)))
    gate.set()
    assert [r.duplicate for r in first.result(30)] == [False]
    assert [r.duplicate for r in retry.result(30)] == [True]  # the same report again: acknowledged
    assert isinstance(other.exception(30), Conflict)  # another report may not settle it again
    res = session.exec(select(Reservation)).one()
    assert (res.status, res.settled_key) == ("settled", "s1")
    keys = set(session.exec(select(UsageEvent.idempotency_key)).all())
    assert "s1" in keys and "s2" not in keys
    session.commit()
