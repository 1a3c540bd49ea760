"""Background rounds in a daemon thread per process (the mail sender, the webhook sender, reservation expiry):
one round every poll interval, or at once when woken; a failing round is logged and the next one retries."""

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("steward.workers")


class Worker:
    """`start()` is idempotent per process; `wake()` runs a round now; `stop()` ends after the current round."""

    def __init__(self, name: str, run_round: Callable[[object], object], interval: Callable[[], float]):
        self.name, self._run_round, self._interval = name, run_round, interval
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake, self._stop = threading.Event(), threading.Event()

    def start(self, engine=None) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._wake.set()  # a first round at once: what was due while no process ran
            self._thread = threading.Thread(target=self._loop, args=(engine,), name=f"steward-{self.name}",
                                            daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread = self._thread
            self._stop.set()
            self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _loop(self, engine) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=max(1.0, self._interval()))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._run_round(engine)
            except Exception:  # keep the thread alive; the next round retries
                log.exception("%s round failed", self.name)
