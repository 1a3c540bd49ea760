"""Reservations that outlived their hold are marked expired (`expire_reservations`) by a daemon thread per
process (`start_worker`)."""

from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session, col

from models import Organization, Reservation, utcnow
from services.core import settings
from services.core.db import session_scope
from services.core.workers import Worker


def expire_reservations(session: Session, *, now: datetime | None = None) -> int:
    """Mark held reservations past their expiry as expired (they already stopped counting at expiry)."""
    now = now or utcnow()
    result = session.exec(update(Reservation).where(  # org by org: ix_reservation_held finds them
        col(Reservation.org_id).in_(select(col(Organization.id))), col(Reservation.status) == "held",
        col(Reservation.expires_at) <= now).values(status="expired"))
    return result.rowcount or 0


def _round(engine) -> None:
    with session_scope(engine) as s:
        expire_reservations(s)


EXPIRY = Worker("reservations", _round, lambda: settings.WEBHOOK_POLL_SECONDS)


def start_worker(engine=None) -> None:
    """Release expired reservations every poll interval (STEWARD_WEBHOOK_POLL_SECONDS)."""
    EXPIRY.start(engine)
