"""Activity Logs: keyset paging (stable with equal timestamps, forwards and back), filters, scope, audit diff,
verify chain."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, SignInEvent, UsageEvent
from services.analytics.activity_logs import log_page
from services.analytics.audit_log import audit_trail, readable_diff, verify_audit_chain
from services.analytics.logs_filter import LogFilter, make_filter
from services.analytics.signin_log import sign_ins
from services.analytics.usage_log import usage_branches, usage_log
from services.core import audit
from services.core.actor import Actor
from services.core.errors import Forbidden, Invalid, NotFound
from services.orgs import catalog
from services.usage.ledger import bulk_load

UTC = UTC
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def logs(session, world):
    models = catalog.ensure_default_models(session)
    gpt, llama = models[0], models[4]
    events = []
    for i in range(57):  # groups of 5 events share one timestamp
        user = world.alice if i % 3 else world.bob
        events.append(UsageEvent(idempotency_key=f"a-{i}", org_id=world.org.id, user_id=user.id,
                                 model_id=(gpt if i % 2 else llama).id, kind="training" if i % 7 == 0 else "tokens",
                                 prompt_tokens=i, completion_tokens=1, billed_tokens=i + 1,
                                 occurred_at=T0 + timedelta(minutes=i // 5), ip=f"10.0.0.{i}"))
    events.append(UsageEvent(idempotency_key="b-1", org_id=world.other_org.id, user_id=world.carol.id,
                             model_id=gpt.id, kind="tokens", prompt_tokens=1, completion_tokens=1, billed_tokens=9,
                             occurred_at=T0, ip="192.168.1.1"))
    bulk_load(session, events)
    for i in range(30):
        session.add(SignInEvent(created_at=T0 + timedelta(seconds=i // 4), user_id=world.alice.id,
                                org_id=world.org.id, email="alice@a.test", ip="1.1.1.1", success=i % 5 != 0,
                                reason="" if i % 5 else "bad_password"))
    session.add(SignInEvent(created_at=T0, user_id=world.carol.id, org_id=world.other_org.id, email="carol@b.test",
                            success=True))
    admin = world.actor(world.admin)
    for i in range(12):
        audit.record(session, admin, "allocation.set", org_id=world.org.id, target_type="user",
                     target_id=world.alice.id, before={"max_tokens": 1000 * i}, after={"max_tokens": 1000 * (i + 1)})
    audit.record(session, world.actor(world.other_admin), "user.ban", org_id=world.other_org.id,
                 target_type="user", target_id=world.carol.id, before={"banned": False},
                 after={"banned": True, "ban_reason": "=cmd"})
    session.commit()


def walk(fn, session, actor, flt, limit=25):
    """Every page forwards, then every page back again; returns (ids forwards, pages back)."""
    seen, pages, cursor = [], [], None
    while True:
        page = fn(session, actor=actor, flt=flt, cursor=cursor, limit=limit)
        pages.append(page)
        seen.extend(r["ip"] + r["time"] if "ip" in r else r["time"] for r in page.rows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    back = [pages[-1]]
    while back[-1].prev_cursor is not None:
        back.append(fn(session, actor=actor, flt=flt, cursor=back[-1].prev_cursor, direction="prev", limit=limit))
    return pages, back


def test_usage_log_keyset_is_stable_with_equal_timestamps(session, world, logs):
    admin = world.actor(world.admin)
    pages, back = walk(usage_log, session, admin, make_filter(session, admin))
    rows = [r for p in pages for r in p.rows]
    assert [len(p.rows) for p in pages] == [25, 25, 7]
    assert len({r["ip"] for r in rows}) == 57  # every event once: no skip, no repeat
    assert [r["prompt_tokens"] for r in rows] == sorted(range(57), reverse=True)  # newest first, then id desc
    assert pages[0].prev_cursor is None and pages[-1].next_cursor is None
    assert [[r["ip"] for r in p.rows] for p in reversed(back)] == [[r["ip"] for r in p.rows] for p in pages]
    assert "192.168.1.1" not in {r["ip"] for r in rows}
    assert rows[0]["user"] == "alice@a.test" and rows[0]["model"] == "llama-3-70b"  # i=56


def test_usage_log_filters(session, world, logs):
    admin = world.actor(world.admin)
    f = make_filter(session, admin, user_id=str(world.bob.id), kind="tokens")
    page = usage_log(session, actor=admin, flt=f, limit=100)
    expected = [i for i in range(57) if i % 3 == 0 and i % 7 != 0]
    assert [r["prompt_tokens"] for r in page.rows] == sorted(expected, reverse=True)
    f = make_filter(session, admin, model_id=logs_model_id(session, "gpt-4o"), start="2026-03-01",
                    end="2026-03-01")
    page = usage_log(session, actor=admin, flt=f, limit=100)
    assert sorted(r["prompt_tokens"] for r in page.rows) == [i for i in range(57) if i % 2]
    none = usage_log(session, actor=admin, flt=make_filter(session, admin, start="2026-03-02"), limit=25)
    assert none.rows == [] and none.next_cursor is None and none.prev_cursor is None
    for bad in ({"kind": "x"}, {"start": "soon"}, {"text": "x" * 500}, {"user_id": [1]}, {"color": "red"},
                {"start": "2026-03-02", "end": "2026-03-01"}):
        with pytest.raises(Invalid):
            make_filter(session, admin, **bad)
    for bad_cursor in ("garbage", "x|y", 42, "2026-01-01|" + "9" * 100):
        with pytest.raises(Invalid):
            usage_log(session, actor=admin, flt=LogFilter(), cursor=bad_cursor)
    with pytest.raises(Invalid):
        usage_log(session, actor=admin, flt=LogFilter(), limit=10_000)


@pytest.mark.parametrize("filters", [
    {"kind": "training"}, {"kind": "tokens"}, {"model": "gpt-4o"}, {"model": "llama-3-70b", "kind": "training"},
    {"model": "gpt-4o", "kind": "training", "start": "2026-03-01", "end": "2026-03-01"},
    {"model": "claude-3-5-sonnet"},  # in the catalog, never used: an empty log, read without scanning
    {"kind": "training", "start": "2026-03-02"},
])
@pytest.mark.parametrize("read", ["branches", "scan"])
def test_usage_log_by_model_and_kind_pages_like_the_ledger(session, world, logs, filters, read, monkeypatch):
    """A sparse model or kind filter reads one keyset branch per (kind, model) and merges them, a common one scans
    the org's events: either way every page, forwards and back, holds exactly the ledger's matching rows in order
    (time, then id, newest first)."""
    monkeypatch.setattr("services.analytics.usage_log.SPARSE_SHARE", 0 if read == "branches" else 10**9)
    admin = world.actor(world.admin)
    mid = logs_model_id(session, filters["model"]) if "model" in filters else None
    f = make_filter(session, admin, model_id=mid, kind=filters.get("kind"), start=filters.get("start"),
                    end=filters.get("end"))
    branches = usage_branches(session, world.org.id, f)
    assert (branches is not None) == (read == "branches") or branches == []  # nothing matches: nothing to read
    want = sorted((e for e in session.exec(select(UsageEvent).where(UsageEvent.org_id == world.org.id)).all()
                   if (mid is None or e.model_id == mid) and (f.kind is None or e.kind == f.kind)
                   and (f.start is None or e.occurred_at.date() >= f.start)
                   and (f.end is None or e.occurred_at.date() <= f.end)),
                  key=lambda e: (e.occurred_at, e.id), reverse=True)
    pages, back = walk(usage_log, session, admin, f, limit=4)
    assert [r["ip"] for p in pages for r in p.rows] == [e.ip for e in want]
    assert [[r["ip"] for r in p.rows] for p in reversed(back)] == [[r["ip"] for r in p.rows] for p in pages]
    if not want:
        assert pages[0].rows == [] and pages[0].next_cursor is None


def logs_model_id(session, name):
    from models import AIModel

    return session.exec(select(AIModel.id).where(AIModel.name == name)).one()


def test_sign_ins_paging_and_outcome(session, world, logs):
    admin = world.actor(world.admin)
    pages, back = walk(sign_ins, session, admin, make_filter(session, admin))
    assert [len(p.rows) for p in pages] == [25, 5]
    assert len(back) == 2 and back[-1].rows == pages[0].rows
    fails = sign_ins(session, actor=admin, flt=make_filter(session, admin, outcome="failure"), limit=25)
    assert len(fails.rows) == 6 and {r["reason"] for r in fails.rows} == {"bad_password"}
    assert "carol@b.test" not in {r["user"] for p in pages for r in p.rows}


def test_audit_trail_diff_text_and_action(session, world, logs):
    admin = world.actor(world.admin)
    page = audit_trail(session, actor=admin, flt=make_filter(session, admin), limit=25)
    acts = [r for r in page.rows if r["action"] == "allocation.set"]
    assert len(acts) == 12 and acts[0]["changes"] == "max_tokens: 11,000 → 12,000"
    assert acts[0]["target"] == f"user {world.alice.id}" and acts[0]["actor"] == "admin@a.test"
    assert all(r["action"] != "user.ban" for r in page.rows)  # org B's entry is not org A's business
    hit = audit_trail(session, actor=admin, flt=make_filter(session, admin, text="11000 MAX_tokens"))
    assert [r["changes"] for r in hit.rows] == ["max_tokens: 10,000 → 11,000", "max_tokens: 11,000 → 12,000"][::-1]
    assert audit_trail(session, actor=admin, flt=make_filter(session, admin, text="100%")).rows == []
    by_action = audit_trail(session, actor=admin, flt=make_filter(session, admin, action="user.create"))
    assert by_action.rows and {r["action"] for r in by_action.rows} == {"user.create"}
    pages, back = walk(audit_trail, session, admin, make_filter(session, admin, action="allocation.set"),
                       limit=5)
    assert [len(p.rows) for p in pages] == [5, 5, 2] and len(back) == 3 and back[-1].rows == pages[0].rows
    assert readable_diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": "x"}) == "b: 2 → 3\nc: x (new)"
    assert readable_diff({"max_tokens": 500_000}, {"max_tokens": 1_250_000}) == "max_tokens: 500,000 → 1,250,000"
    assert readable_diff(None, {"x": 1}) == "x: 1 (new)"


def test_audit_trail_by_user_as_actor_or_target_pages_like_the_table(session, world, logs):
    """A user filter merges the user's own actions and the actions on them (each on its own index); an entry
    that is both (a user acting on themselves) comes once."""
    alice = world.actor(world.alice)
    for i in range(4):
        audit.record(session, alice, "request.submit", org_id=world.org.id, target_type="token_request",
                     target_id=100 + i, before=None, after={"amount": i})
    audit.record(session, alice, "user.update", org_id=world.org.id, target_type="user", target_id=world.alice.id,
                 before={"name": "A"}, after={"name": "Alice"})
    session.commit()
    admin = world.actor(world.admin)
    uid = world.alice.id
    want = [(e.action, readable_diff(e.before, e.after))
            for e in sorted(session.exec(select(AuditEvent).where(AuditEvent.org_id == world.org.id)).all(),
                            key=lambda e: e.seq, reverse=True)
            if e.actor_id == uid or (e.target_type == "user" and e.target_id == str(uid))]
    assert len(want) == 1 + 12 + 4 + 1  # her creation, the allocations, her requests, her own update
    f = make_filter(session, admin, user_id=uid)
    pages, back = walk(audit_trail, session, admin, f, limit=5)
    got = [(r["action"], r["changes"]) for p in pages for r in p.rows]
    assert got == want and [len(p.rows) for p in pages] == [5, 5, 5, 3]
    assert [p.rows for p in reversed(back)] == [p.rows for p in pages]
    assert sum(r["action"] == "user.update" for p in pages for r in p.rows) == 1


@pytest.mark.parametrize("words", ["max_tokens", "11000 max_TOKENS", "no-such-word"])
def test_audit_free_text_reads_a_bounded_window_per_page(session, world, logs, words, monkeypatch):
    """Free text reads at most TEXT_WINDOW entries a page: walking the windows finds every match once, in order,
    forwards and back, with the search's reach in the page's note — common, rare and absent words alike."""
    admin = world.actor(world.admin)
    f = make_filter(session, admin, text=words)
    monkeypatch.setattr("services.analytics.audit_log.TEXT_WINDOW", 10**6)
    everything = audit_trail(session, actor=admin, flt=f, limit=100)
    assert everything.next_cursor is None and len(everything.rows) < 100
    monkeypatch.setattr("services.analytics.audit_log.TEXT_WINDOW", 4)
    pages, back = walk(audit_trail, session, admin, f, limit=3)
    assert [r for p in pages for r in p.rows] == everything.rows
    assert len(pages) >= sum(1 for _ in session.exec(select(AuditEvent.id).where(
        AuditEvent.org_id == world.org.id))) // 4  # one window of 4 entries a page (at least)
    assert [r for p in reversed(back) for r in p.rows] == everything.rows  # windows anchor at the cursors
    assert all(len(p.rows) <= 3 for p in pages)
    if words != "max_tokens":  # rare or absent: windows with fewer matches than a page say how far they searched
        assert any(p.note.startswith("Searched 4 entries, back to ") and p.note.endswith("page by page.")
                   for p in pages)
    if words == "no-such-word":
        assert everything.rows == [] and all(p.rows == [] for p in pages)


def test_scope_admin_of_b_sees_nothing_of_a(session, world, logs):
    b = world.actor(world.other_admin)
    usage = usage_log(session, actor=b, flt=LogFilter(), limit=100)
    assert [r["ip"] for r in usage.rows] == ["192.168.1.1"]
    assert [r["user"] for r in sign_ins(session, actor=b, flt=LogFilter()).rows] == ["carol@b.test"]
    trail = audit_trail(session, actor=b, flt=LogFilter(), limit=100).rows
    assert trail and all("alice" not in str(r) and r["action"] != "allocation.set" for r in trail)
    with pytest.raises(NotFound):
        make_filter(session, b, user_id=world.alice.id)


def test_roles_finance_and_member_refused_super_sees_all(session, world, logs):
    for user in (world.finance, world.alice):
        with pytest.raises(Forbidden):
            usage_log(session, actor=world.actor(user), flt=LogFilter())
        with pytest.raises(Forbidden):
            verify_audit_chain(session, actor=world.actor(user))
    with pytest.raises(Forbidden):
        verify_audit_chain(session, actor=world.actor(world.admin))
    root_all = Actor(world.super_user.id, "super_admin", None)
    page = usage_log(session, actor=root_all, flt=LogFilter(), limit=100)
    assert len(page.rows) == 58 and {r["org"] for r in page.rows} == {"Org A", "Org B"}
    assert log_page(session, actor=root_all, tab="signins", flt=LogFilter()).columns[0] == "org"
    with pytest.raises(Invalid):
        log_page(session, actor=root_all, tab="secrets", flt=LogFilter())


def test_verify_chain_reports_intact_then_the_first_broken_entry(session, world, logs):
    root = Actor(world.super_user.id, "super_admin", None)
    report = verify_audit_chain(session, actor=root)
    n = session.exec(select(AuditEvent)).all()
    assert report.intact and str(report) == f"intact ({len(n)} entries)"
    victim = session.exec(select(AuditEvent).where(AuditEvent.action == "allocation.set")
                          .order_by(AuditEvent.seq).offset(3)).first()
    victim.after = {"max_tokens": 999_999_999}
    session.add(victim)
    session.commit()
    report = verify_audit_chain(session, actor=root)
    assert not report.intact and report.broken_seq == victim.seq and f"#{victim.seq}" in str(report)
