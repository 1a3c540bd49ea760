"""The audit trail: every change writes an entry; the hash chain verifies and detects tampering."""

from sqlalchemy import text
from sqlmodel import select

from models import AuditEvent
from services.core.audit import verify_chain
from services.tokens.allocation import set_allocation


def test_changes_are_audited_with_before_and_after(world, session):
    set_allocation(session, actor=world.actor(world.admin), user_id=world.bob.id, max_tokens=450_000)
    session.commit()
    ev = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert ev.action == "allocation.set"
    assert ev.actor_id == world.admin.id and ev.actor_email == "admin@a.test"
    assert ev.org_id == world.org.id and ev.target_id == str(world.bob.id)
    assert ev.before["max_tokens"] == 300_000 and ev.after["max_tokens"] == 450_000


def test_chain_is_intact_after_normal_work(world, session):
    n = session.exec(select(AuditEvent)).all().__len__()
    report = verify_chain(session)
    assert report.intact and report.entries == n and n >= 9
    assert str(report) == f"intact ({n} entries)"


def test_edited_entry_is_reported(world, session, engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET after = :a WHERE seq = 5"), {"a": '{"max_tokens": 99999999}'})
    report = verify_chain(session)
    assert not report.intact and report.broken_seq == 5 and "changed" in report.reason


def test_rehashed_entry_breaks_the_next_link(world, session, engine):
    """An attacker who recomputes the edited entry's own hash still breaks the link of the entry after it."""
    from services.core.audit import entry_hash

    ev = session.exec(select(AuditEvent).where(AuditEvent.seq == 4)).one()
    ev.action = "forged"
    ev.hash = entry_hash(ev.prev_hash, ev)
    session.add(ev)
    session.commit()
    report = verify_chain(session)
    assert not report.intact and report.broken_seq == 5 and "link" in report.reason


def test_deleted_entry_is_reported(world, session, engine):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))
    report = verify_chain(session)
    assert not report.intact and report.broken_seq == 3


def test_truncated_tail_is_reported(world, session, engine):
    last = session.exec(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())).first()
    session.rollback()  # end the read transaction before another connection writes
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = :s"), {"s": last})
    report = verify_chain(session)
    assert not report.intact and report.broken_seq == last
