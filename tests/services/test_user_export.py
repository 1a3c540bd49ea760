"""Exporting users: basic and full (usage from the monthly rollup), formula cells neutralized, org scope."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from models import AuditEvent, UsageUserMonthly
from services.core.errors import Forbidden, Invalid
from services.users import user_export

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_basic_export_lists_only_the_org_users(world, session):
    text, n = user_export.export_csv(session, actor=world.actor(world.admin))
    rows = _rows(text)
    assert n == len(rows) == 4
    assert {r["email"] for r in rows} == {"admin@a.test", "finance@a.test", "alice@a.test", "bob@a.test"}
    assert list(rows[0]) == user_export.BASIC
    alice = next(r for r in rows if r["email"] == "alice@a.test")
    assert alice["max_tokens"] == "500000" and alice["paid"] == "yes" and alice["mfa"] == "no"


def test_full_export_sums_the_rollup_per_month_and_kind(world, session):
    add = lambda user, kind, month, n: session.add(UsageUserMonthly(  # noqa: E731
        org_id=world.org.id, user_id=user.id, kind=kind, month=month, billed_tokens=n, events=1))
    add(world.alice, "tokens", date(2026, 3, 1), 1_000)
    add(world.alice, "tokens", date(2026, 2, 1), 200)
    add(world.alice, "tokens", date(2025, 12, 1), 30)
    add(world.alice, "training", date(2026, 3, 1), 7)
    add(world.bob, "training", date(2026, 2, 1), 5)
    session.add(UsageUserMonthly(org_id=world.other_org.id, user_id=world.alice.id, kind="tokens",
                                 month=date(2026, 3, 1), billed_tokens=999_999, events=1))
    session.commit()
    text, _ = user_export.export_csv(session, actor=world.actor(world.admin), full=True, now=NOW)
    rows = {r["email"]: r for r in _rows(text)}
    usage = lambda r: [int(r[c]) for c in user_export.USAGE]  # noqa: E731
    assert usage(rows["alice@a.test"]) == [1_000, 200, 1_230, 7, 0, 7]
    assert usage(rows["bob@a.test"]) == [0, 0, 0, 0, 5, 5]
    assert usage(rows["admin@a.test"]) == [0] * 6


def test_january_compares_with_december_of_the_previous_year():
    assert user_export.previous_month(date(2026, 1, 1)) == date(2025, 12, 1)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralized(world, session, value):
    world.alice.name = value
    session.add(world.alice)
    session.commit()
    text, _ = user_export.export_csv(session, actor=world.actor(world.admin))
    alice = next(r for r in _rows(text) if r["email"] == "alice@a.test")
    assert alice["name"] == "'" + value


def test_scope_and_roles(world, session):
    for who in (world.alice, world.finance):
        with pytest.raises(Forbidden):
            user_export.export_csv(session, actor=world.actor(who))
    with pytest.raises(Invalid, match="Choose an organization"):
        user_export.export_csv(session, actor=world.actor(world.super_user))
    text, n = user_export.export_csv(session, actor=world.actor(world.super_user, org_id=world.other_org.id))
    assert {r["email"] for r in _rows(text)} == {"admin@b.test", "carol@b.test"} and n == 2


def test_export_is_audited(world, session):
    user_export.record_export(session, actor=world.actor(world.admin), full=True, users=4)
    session.commit()
    ev = session.exec(select(AuditEvent).where(AuditEvent.action == "user.export")).one()
    assert ev.org_id == world.org.id and ev.after == {"kind": "full", "users": 4}


def test_large_org_is_read_in_pages(world, session, monkeypatch):
    monkeypatch.setattr(user_export, "PAGE", 3)
    text, n = user_export.export_csv(session, actor=world.actor(world.admin), full=True)
    assert n == 4 and len({r["id"] for r in _rows(text)}) == 4


def test_filename_is_safe():
    assert user_export.filename("Acme / Ünïcorn", True, NOW) == "users-acme---ünïcorn-full-20260315.csv"
