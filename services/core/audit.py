"""The admin audit trail: append-only, each entry chaining the hash of the previous one.

Appending locks the single chain-head row (SQLite: the write transaction already holds the database lock),
so concurrent writers produce one linear chain. Every service writes its audit entry in the same
transaction as its change.
"""

import hashlib
import json
from dataclasses import dataclass

from sqlmodel import Session, col, select

from models import AuditEvent, AuditHead, utcnow
from services.core.actor import Actor
from services.core.dialect import insert_for

GENESIS = "0" * 64


def _plain(value):
    """JSON-safe copy (dates become ISO strings) so stored values hash the same after a round trip."""
    return json.loads(json.dumps(value, default=str, sort_keys=True)) if value is not None else None


def entry_hash(prev_hash: str, ev: AuditEvent) -> str:
    payload = {
        "seq": ev.seq,
        "created_at": ev.created_at.isoformat(timespec="microseconds"),
        "actor_id": ev.actor_id,
        "actor_email": ev.actor_email,
        "org_id": ev.org_id,
        "action": ev.action,
        "target_type": ev.target_type,
        "target_id": ev.target_id,
        "before": ev.before,
        "after": ev.after,
        "ip": ev.ip,
    }
    blob = prev_hash + json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _lock_head(session: Session) -> AuditHead:
    session.execute(insert_for(session, AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())
    return session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    org_id: int | None = None,
    target_type: str = "",
    target_id: object = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    head = _lock_head(session)
    ev = AuditEvent(
        seq=head.seq + 1,
        created_at=utcnow(),
        actor_id=actor.user_id,
        actor_email=actor.email,
        org_id=org_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else "",
        before=_plain(before),
        after=_plain(after),
        ip=actor.ip[:45],
        prev_hash=head.hash,
        hash="",
    )
    ev.hash = entry_hash(head.hash, ev)
    head.seq, head.hash = ev.seq, ev.hash
    session.add(ev)
    session.add(head)
    session.flush()
    return ev


@dataclass
class ChainReport:
    intact: bool
    entries: int
    broken_seq: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.intact:
            return f"intact ({self.entries} entries)"
        return f"broken at entry #{self.broken_seq}: {self.reason}"


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in order and report the first entry whose link or content does not match."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    last_seq = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(col(AuditEvent.seq)).limit(batch)
        ).all()
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return ChainReport(False, count, expected_seq, "entry missing")
            if ev.prev_hash != prev:
                return ChainReport(False, count, ev.seq, "link to the previous entry does not match")
            if entry_hash(prev, ev) != ev.hash:
                return ChainReport(False, count, ev.seq, "content was changed after it was written")
            prev = ev.hash
            expected_seq += 1
            count += 1
            last_seq = ev.seq
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is not None and head.seq != count:
        return ChainReport(False, count, count + 1, "entries after the last intact one are missing")
    return ChainReport(True, count)
