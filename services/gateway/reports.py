"""The gateway's usage reports: ledger, rollups, settled reservations and threshold notices in one transaction.

Set-based: `report_many` records a group of usage reports in one transaction with a fixed handful of queries
(the group commit writer, services/gateway/group_commit.py, hands it whole groups; the one-call `report_usage`
is a group of one). A report that settles a reservation locks the org rows first, like an authorization that
grants one (services/gateway/authorization.py); usage without a reservation only adds to what is used.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Table, bindparam, select, update
from sqlmodel import Session, col

from models import Reservation, table_of, utcnow
from services.core.actor import Actor
from services.core.errors import Conflict, DomainError, NotFound
from services.core.permissions import scoped_org_id
from services.gateway import idempotency
from services.gateway.authorization import lock_orgs, require_gateway
from services.tokens import notices
from services.usage import event_checks, ledger
from services.usage.event_checks import EventError, Pending
from services.usage.ledger import Recorded

_LIST: BindParameter[list[Any]] = bindparam("values", expanding=True)


@dataclass
class UsageReport:
    """One checked usage report (`event_checks.check_events`) of one org; `outcome` is set by `report_many`."""

    org_id: int
    pending: list[Pending]
    outcome: list[Recorded] | DomainError | None = None
    settle: list[tuple[Any, str]] = field(default_factory=list)  # (reservation row, settling key)


def _reservations(session: Session, reports: list[UsageReport], now: datetime) -> dict[str, tuple]:
    """The reservations the reports name, locked (org rows first, in id order): {public id: row}."""
    wanted = {p.reservation_id for r in reports for p in r.pending if p.reservation_id is not None}
    if not wanted:
        return {}
    lock_orgs(session, {r.org_id for r in reports if any(p.reservation_id for p in r.pending)})
    return {r.public_id: r for r in session.connection().execute(_HELD, {"values": sorted(wanted)})}


_HELD = select(col(Reservation.public_id), col(Reservation.id), col(Reservation.org_id), col(Reservation.user_id),
               col(Reservation.kind), col(Reservation.status), col(Reservation.expires_at),
               col(Reservation.settled_key)).where(col(Reservation.public_id).in_(_LIST)).order_by(
    col(Reservation.id)).with_for_update()
_RES: Table = table_of(Reservation)
_SETTLE = update(_RES).where(_RES.c.id == bindparam("rid"), _RES.c.status == "held").values(
    status="settled", settled_at=bindparam("at"), settled_key=bindparam("key"))


def _check_settlements(report: UsageReport, held: dict, prior: dict, claimed: dict, settled: dict,
                       now: datetime) -> list[EventError]:
    """Reservation checks of one report against the rows and what earlier reports of the group did: the
    per-event errors; the settlements it would make go to `report.settle`."""
    errors: list[EventError] = []
    for p in report.pending:
        rid = p.reservation_id
        if rid is None:
            continue
        res = held.get(rid)
        if res is None or res.org_id != report.org_id:
            errors.append((p.index, "reservation_id", f"Unknown reservation {rid!r}.", NotFound))
            continue
        settled_key = settled.get(rid, res.settled_key if res.status == "settled" else None)
        if settled_key is not None:
            if settled_key != p.idempotency_key:
                errors.append((p.index, "reservation_id",
                               f"Reservation {rid} was already settled by another usage report.", Conflict))
            continue
        if res.status == "expired" or res.expires_at <= now:
            errors.append((p.index, "reservation_id",
                           f"Reservation {rid} expired; report the usage without reservation_id.", Conflict))
            continue
        ev = prior.get(p.idempotency_key)
        owner = (ev[2], ev[3]) if ev else ((claimed[p.idempotency_key].user_id, claimed[p.idempotency_key].kind)
                                           if p.idempotency_key in claimed else (p.user_id, p.kind))
        if owner != (res.user_id, res.kind):
            errors.append((p.index, "reservation_id", f"Reservation {rid} is for another user or kind.", Conflict))
            continue
        report.settle.append((res, p.idempotency_key))
    return errors


def _reused_keys(report: UsageReport, prior: dict, claimed: dict) -> list[EventError]:
    """Errors of the report's events whose key the ledger (`prior`) or an earlier report of the group
    (`claimed`) holds with a different event."""
    errors = idempotency.conflicts(report.pending, prior)
    for p in report.pending:
        first = claimed.get(p.idempotency_key)
        if first is not None and p.idempotency_key not in prior and (diff := idempotency.differences(
                p, idempotency.as_recorded(first))):
            errors.append(idempotency.conflict(p, diff))
    return errors


def _claim(live: list[UsageReport], held: dict, prior: dict, now: datetime) -> dict:
    """Decide each report over the known ledger rows (`prior`), in order: reused keys and reservation
    problems become its outcome (it records nothing); the others claim their new keys. {key: the Pending
    that records it}."""
    claimed: dict = {}
    settled: dict[str, str] = {}  # reservation public id → settling key, within the group
    for r in live:
        r.settle = []
        errors = _reused_keys(r, prior, claimed) or _check_settlements(r, held, prior, claimed, settled, now)
        r.outcome = event_checks.event_errors(sorted(errors, key=lambda e: e[0])) if errors else None
        if errors:
            r.settle = []
            continue
        for p in r.pending:
            if p.idempotency_key not in prior:
                claimed.setdefault(p.idempotency_key, p)
        settled.update({res.public_id: key for res, key in r.settle})
    return claimed


def report_many(session: Session, reports: list[UsageReport], now: datetime) -> list[UsageReport]:
    """Record checked usage reports in the caller's transaction: ledger, rollups, settled reservations and
    threshold notices. A report whose users, models, reservations or reused keys do not check out gets its
    DomainError as `outcome` and writes nothing; the others get their [Recorded] (a key sent twice in the
    group with the same event is recorded once: the first report records it, later ones are answered as
    duplicates)."""
    everything = [p for r in reports for p in r.pending]
    users = ledger.users_by_ref(session, {p.user_ref for p in everything})
    models = ledger.models_by_name(session, {p.model_name for p in everything})
    for r in reports:
        errors = ledger.resolve(session, r.org_id, r.pending, users, models)
        r.outcome = event_checks.event_errors(errors) if errors else None
    live = [r for r in reports if r.outcome is None]
    # Keys that settle a reservation are looked up first (the reservation must match the event that keeps
    # the key); every other retried key is found by the INSERT's ON CONFLICT (ledger.insert). If one of those
    # turns out to be a different event, the rows just inserted are taken back and the group is decided
    # again knowing that row (rare: a client reusing a key, or racing another transaction).
    prior = ledger.existing(session, {p.idempotency_key for r in live for p in r.pending if p.reservation_id})
    held = _reservations(session, live, now)
    while True:
        claimed = _claim(live, held, prior, now)
        ids, known = ledger.insert(session, list(claimed.values()), now, prior=prior)
        found = {k: known[k] for k in known.keys() - prior.keys()}
        prior = known
        if not found or not any(idempotency.conflicts(r.pending, found) for r in live if r.outcome is None):
            break
        ledger.undo(session, ids)
    ledger.add_to_rollups(session, list(claimed.values()), ids)
    for r in live:
        if r.outcome is not None:
            continue
        out = []
        for p in r.pending:
            k = p.idempotency_key
            if k in ids:
                out.append(ledger.Recorded(k, ids[k], claimed[k] is not p, claimed[k].billed_tokens))
            else:
                out.append(ledger.Recorded(k, prior[k][0], True, prior[k][1]))
        r.outcome = out
    settles = [{"rid": res.id, "key": key} for r in live if isinstance(r.outcome, list) for res, key in r.settle]
    if settles:
        session.connection().execute(_SETTLE, [dict(s, at=now) for s in settles])
    affected: dict[int, set] = {}
    for p in (claimed[k] for k in ids):
        affected.setdefault(p.org_id, set()).add((p.user_id, p.kind))
    if affected:
        notices.check_many(session, affected, now)
    return reports


def report_usage(session: Session, *, actor: Actor, events: list, now: datetime | None = None) -> list[Recorded]:
    """Record usage (one transaction: ledger, rollups, settled reservations, threshold notices)."""
    org_id = scoped_org_id(session, actor, require_gateway(actor, "report usage"))
    now = now or utcnow()
    try:
        pending = event_checks.check_events(events, now)
    except DomainError as exc:
        raise ledger.with_lookups(session, org_id, events, exc) from None
    report = report_many(session, [UsageReport(org_id, pending)], now)[0]
    if isinstance(report.outcome, DomainError):
        raise report.outcome
    if report.outcome is None:  # report_many answers every report it is given
        raise RuntimeError("report_many left a usage report unanswered")
    return report.outcome
