"""Group commit for the gateway: one writer thread per process and database takes every usage report and
authorization waiting for it and handles them together in ONE transaction (services/gateway/reports.py
`report_many`, services/gateway/authorization.py `decide`), then answers each after the commit.

- Durability is unchanged: a request is answered only after the transaction holding its rows committed.
- Each request still gets its own answer (recorded / duplicate and billed tokens, or its decision).
- Requests are checked in plain Python before they are queued; a report whose users, models or reservations
  do not check out gets its own error and writes nothing, without failing the others. If the group's
  transaction fails as a whole, every request of it is retried alone, so only the culprit gets the error.
- Groups form by themselves: requests that arrive while a group is being written make up the next one
  (GATEWAY_GROUP_WAIT_MS > 0 additionally waits that long for more). At most GATEWAY_GROUP_MAX_EVENTS usage
  events go into one group (a bigger single report still goes alone).
- Decisions are exact: they run one after another over figures read under the org lock (see authorization.decide).
The thread stops after a few idle seconds and starts again with the next request.
"""

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future

from sqlalchemy.engine import Engine

from models import utcnow
from services.core import settings
from services.core.db import read_scope, session_scope
from services.gateway.authorization import Ask, decide, lock_orgs
from services.gateway.reports import UsageReport, report_many

log = logging.getLogger(__name__)
IDLE_SECONDS = 5.0


def _size(item) -> int:
    return len(item.pending) if isinstance(item, UsageReport) else 1


def process(session, items: list, now) -> list:
    """The outcome of each item (a list of Recorded, a Decision, or a DomainError), in item order. The org rows
    that reservations need are locked first, before any ledger or rollup row: every writer takes the locks in
    the same order (org rows, then rollup rows), so writers of several processes cannot deadlock."""
    reports = [i for i in items if isinstance(i, UsageReport)]
    asks = [i for i in items if isinstance(i, Ask)]
    lock_orgs(session, {a.org_id for a in asks if a.reserve}
              | {r.org_id for r in reports if any(p.reservation_id for p in r.pending)})
    if reports:
        report_many(session, reports, now)
    answers = iter(decide(session, asks, now) if asks else [])
    return [i.outcome if isinstance(i, UsageReport) else next(answers) for i in items]


class Writer:
    def __init__(self, engine: Engine):
        self._engine = weakref.ref(engine)  # the registry must not keep engines alive
        self._queue: deque[tuple[object, Future]] = deque()
        self._cv = threading.Condition()
        self._running = False
        self.groups = 0  # groups committed (for tests and the bench)

    def submit(self, item) -> Future:
        """Queue a checked UsageReport or Ask; the future gets its outcome after the commit."""
        fut: Future = Future()
        self._put(item, fut)
        return fut

    def submit_async(self, item) -> "asyncio.Future":
        """The same from a running event loop: an asyncio future, resolved on that loop (one wake-up of the
        loop per group, not one per request)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._put(item, (loop, fut))
        return fut

    def _put(self, item, target) -> None:
        with self._cv:
            self._queue.append((item, target))
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="steward-group-commit", daemon=True).start()
            self._cv.notify()

    def _take(self) -> list[tuple[object, Future]] | None:
        with self._cv:
            if not self._queue and not self._cv.wait_for(lambda: self._queue, timeout=IDLE_SECONDS):
                self._running = False
                return None
            wait = settings.GATEWAY_GROUP_WAIT_MS / 1000
            if wait > 0:
                deadline = time.monotonic() + wait
                while sum(_size(i) for i, _ in self._queue) < settings.GATEWAY_GROUP_MAX_EVENTS:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._cv.wait(left):
                        break
            group: list[tuple[object, Future]] = []
            events = 0
            while self._queue and (not group or events + _size(self._queue[0][0]) <= settings.GATEWAY_GROUP_MAX_EVENTS):
                item, fut = self._queue.popleft()
                group.append((item, fut))
                events += _size(item)
            return group

    def _loop(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            try:
                self._answer(group, self._run([i for i, _ in group]))
            except BaseException as exc:  # never leave a request unanswered
                log.exception("group commit failed")
                self._answer(group, [RuntimeError(f"The usage writer failed: {exc}")] * len(group))

    def _run(self, items: list) -> list:
        """Every item's outcome; the group in one transaction, or each item alone if that transaction fails."""
        read_only = all(isinstance(i, Ask) and not i.reserve for i in items)
        try:
            with (read_scope if read_only else session_scope)(self._engine()) as db:
                outcomes = process(db, items, utcnow())
        except Exception as exc:
            if len(items) > 1:  # find the culprit: every request alone
                return [self._run([one])[0] for one in items]
            return [exc]
        self.groups += 1
        return outcomes

    @staticmethod
    def _answer(group: list, outcomes: list) -> None:
        by_loop: dict = {}
        for (_item, target), outcome in zip(group, outcomes, strict=True):
            if isinstance(target, Future):
                if isinstance(outcome, BaseException):
                    target.set_exception(outcome)
                else:
                    target.set_result(outcome)
            else:
                loop, fut = target
                by_loop.setdefault(loop, []).append((fut, outcome))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, answers)
            except RuntimeError:  # the loop was closed meanwhile: nobody waits any more
                pass


def _deliver(answers: list) -> None:
    for fut, outcome in answers:
        if fut.done():  # the request was cancelled (client gone)
            continue
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


_writers: "weakref.WeakKeyDictionary[Engine, Writer]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def writer_for(engine: Engine) -> Writer:
    with _lock:
        w = _writers.get(engine)
        if w is None:
            w = _writers[engine] = Writer(engine)
        return w
