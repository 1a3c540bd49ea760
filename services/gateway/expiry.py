"""Reservations that outlived their hold are released by a daemon thread per process (`start_worker`)."""

from services.core import settings
from services.core.db import session_scope
from services.core.workers import Worker
from services.gateway.operations import expire_reservations


def _round(engine) -> None:
    with session_scope(engine) as s:
        expire_reservations(s)


EXPIRY = Worker("reservations", _round, lambda: settings.WEBHOOK_POLL_SECONDS)


def start_worker(engine=None) -> None:
    """Release expired reservations every poll interval (STEWARD_WEBHOOK_POLL_SECONDS)."""
    EXPIRY.start(engine)
