"""SQLite writers of one process take turns first come, first served: a writer that commits and begins again
at once (a CSV import's batches, the gateway's group commit under load) cannot keep the single write lock
while another writer waits (SQLite's own busy wait retries only every 100 ms and would lose every time)."""

import threading
import time

from sqlalchemy import text

from services.core.db import make_engine, session_scope


def test_a_waiting_writer_gets_the_next_turn(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)"))
    fifth, done = threading.Event(), threading.Event()

    def hog():  # 40 back-to-back write transactions of ~20 ms each
        for i in range(40):
            with session_scope(engine) as s:
                s.execute(text("INSERT INTO t (who) VALUES ('hog')"))
                time.sleep(0.02)
            if i == 4:
                fifth.set()
        done.set()

    h = threading.Thread(target=hog)
    h.start()
    fifth.wait(timeout=30)
    with session_scope(engine) as s:  # queued behind the hog's current transaction only
        s.execute(text("INSERT INTO t (who) VALUES ('other')"))
    h.join(timeout=60)
    assert done.is_set()
    with engine.connect() as c:
        order = [r[0] for r in c.execute(text("SELECT who FROM t ORDER BY id"))]
    assert order.count("hog") == 40 and order.count("other") == 1
    assert order.index("other") <= 7, order.index("other")  # right after the hog's 5th–7th transaction


def test_a_session_closed_without_commit_or_failing_gives_its_turn_back(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    from sqlmodel import Session

    s = Session(engine)
    s.execute(text("INSERT INTO t VALUES (1)"))
    s.close()  # rolled back, never committed
    try:
        with session_scope(engine) as s:
            s.execute(text("INSERT INTO missing VALUES (1)"))
    except Exception:  # noqa: BLE001 — the statement fails; the turn must still come back
        pass
    result = []
    t = threading.Thread(target=lambda: result.append(_write(engine)))
    t.start()
    t.join(timeout=10)  # a lost turn would make this writer wait 30 s
    assert result == [1]


def _write(engine) -> int:
    with session_scope(engine) as s:
        s.execute(text("INSERT INTO t VALUES (2)"))
        return s.execute(text("SELECT count(*) FROM t")).scalar()
