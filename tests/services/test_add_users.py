"""Adding users by form and CSV import: per-row results, idempotency, bad input, scope, invitations."""

import email
import email.policy
import re
import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models import AuditEvent, PasswordReset, User, utcnow
from services.auth import sessions, signin
from services.core.errors import Conflict, Forbidden, Invalid
from services.core.passwords import verify_password
from services.users import invitations
from services.users.user_import import (
    BATCH_ROWS,
    CREATED,
    EXISTS,
    INVALID,
    MAX_IMPORT_BYTES,
    add_user,
    import_rows,
    parse_csv,
)
from tests.conftest import snapshot

from .test_password_reset import smtp  # noqa: F401  (a real local SMTP server)

HEADER = "email,name,role,max_tokens,max_train_tokens\n"


def _token(link: str) -> str:
    return re.search(r"token=([\w-]+)", link).group(1)


def test_form_adds_a_user_with_an_invitation_that_works_once(world, session):
    r = add_user(session, actor=world.actor(world.admin), email="New@A.test", name="New", role="finance",
                 max_tokens="300000", max_train_tokens=0)
    session.commit()
    added = r.value
    assert (added.email, added.role, added.max_tokens) == ("new@a.test", "finance", 300_000)
    assert "/invite?token=" in added.link
    token = _token(added.link)
    stored = session.exec(select(PasswordReset).where(PasswordReset.user_id == added.user_id)).one()
    assert stored.purpose == "invite" and token not in stored.token_hash and len(stored.token_hash) == 64
    assert stored.expires_at - stored.created_at == timedelta(days=7)
    assert invitations.peek(session, token=token) == "new@a.test"
    user = invitations.accept(session, token=token, password="a-good-long-password")
    session.commit()
    assert user.verified and verify_password(user.password_hash, "a-good-long-password")
    with pytest.raises(Invalid, match="invalid, was already used"):
        invitations.accept(session, token=token, password="another-password-1")
    assert signin.sign_in(session, email="new@a.test", password="a-good-long-password").ok


def test_invitation_expires_after_seven_days_and_a_new_one_replaces_the_old(world, session):
    now = utcnow()
    added = add_user(session, actor=world.actor(world.admin), email="late@a.test", now=now).value
    session.commit()
    with pytest.raises(Invalid):
        invitations.accept(session, token=_token(added.link), password="a-good-long-password",
                           now=now + timedelta(days=7, seconds=1))
    user = session.get(User, added.user_id)
    fresh = invitations.issue(session, user, created_by=world.admin.id, now=now)
    session.commit()
    with pytest.raises(Invalid):
        invitations.accept(session, token=_token(added.link), password="a-good-long-password", now=now)
    invitations.accept(session, token=_token(fresh.link), password="a-good-long-password", now=now)


def test_invite_token_does_not_work_as_a_verification_link_and_weak_password_keeps_it(world, session):
    added = add_user(session, actor=world.actor(world.admin), email="w@a.test").value
    session.commit()
    with pytest.raises(Invalid, match="at least"):
        invitations.accept(session, token=_token(added.link), password="short")
    session.rollback()
    from services.auth import registration

    with pytest.raises(Invalid):
        registration.verify_email(session, token=_token(added.link))
    session.rollback()
    invitations.accept(session, token=_token(added.link), password="a-good-long-password")


def test_invitations_are_mailed_when_smtp_is_configured(world, session, smtp):  # noqa: F811
    added = add_user(session, actor=world.actor(world.admin), email="mail@a.test", name="Mia").value
    session.commit()
    sent = invitations.deliver([invitations.Invite(added.email, added.name, added.link)])
    assert sent == 1
    session.commit()  # mail leaves after the commit; the sender needs the write lock
    [(rcpt, raw)] = smtp.messages
    body = email.message_from_string(raw, policy=email.policy.default).get_content()
    assert rcpt == ["mail@a.test"] and "Hello Mia" in body and added.link in body


def test_without_smtp_nothing_is_sent_and_the_link_remains(world, session, monkeypatch):
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    assert invitations.deliver([invitations.Invite("x@a.test", "", "http://x/invite?token=abc")]) == 0


@pytest.mark.parametrize("kwargs,error,message", [
    ({"email": "n@a.test", "role": "super_admin"}, Forbidden, "not allowed to grant"),
    ({"email": "n@a.test", "role": 5}, Invalid, "Choose a role"),
    ({"email": "=cmd@a.test"}, Invalid, "formula"),
    ({"email": "n@a.test", "name": "@SUM(A1)"}, Invalid, "formula"),
    ({"email": "n@a.test", "max_tokens": "-5"}, Invalid, "cannot be negative"),
    ({"email": "n@a.test", "max_tokens": "lots"}, Invalid, "whole number"),
    ({"email": "n@a.test", "max_train_tokens": "99999999999999999999"}, Invalid, "too large"),
    ({"email": "alice@a.test"}, Conflict, "already exists"),
])
def test_form_bad_input_changes_nothing(world, session, engine, kwargs, error, message):
    before = snapshot(engine)
    with pytest.raises(error, match=message):
        add_user(session, actor=world.actor(world.admin), **kwargs)
    session.rollback()
    assert snapshot(engine) == before


def test_members_and_finance_cannot_add_users(world, session):
    for who in (world.alice, world.finance):
        with pytest.raises(Forbidden):
            add_user(session, actor=world.actor(who), email="x@a.test")
        with pytest.raises(Forbidden):
            import_rows(session, actor=world.actor(who), rows=[])


# ---------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"email,name\nx@a.test,X\n", "missing role, max_tokens, max_train_tokens"),
    ((HEADER.strip() + ",extra\n").encode(), "unexpected extra"),
    (b"email,email,role,max_tokens,max_train_tokens\n", "Wrong columns"),
    ("email,name,role,max_tokens,max_train_tokens\nj@a.test,J\xfcrgen,member,,\n".encode("latin-1"), "not UTF-8"),
    (b"\x00\x01\x02binary", "not a text CSV"),
    (HEADER.encode(), "no rows"),
    (HEADER.encode() + b'"unterminated,x,member,1,1\n', "not a valid CSV"),
    (b"x" * (MAX_IMPORT_BYTES + 1), "larger than 5 MB"),
    ("not bytes", "Upload a CSV"),
])
def test_files_that_cannot_be_imported_are_refused_whole(data, message):
    with pytest.raises(Invalid, match=message):
        parse_csv(data)


def test_parsing_keeps_text_and_line_numbers_and_accepts_a_bom_and_any_column_order():
    data = "\ufeffName,EMAIL,role,max_train_tokens,max_tokens\n\"Doe, Jane\",jane@a.test,,0,007\n".encode()
    [row] = parse_csv(data)
    assert row == {"row": 2, "email": "jane@a.test", "name": "Doe, Jane", "role": "", "max_tokens": "007",
                   "max_train_tokens": "0"}


# ----------------------------------------------------------------------------------------------- import
BAD_FILE = (HEADER
            + "ok1@a.test,One,member,300000,0\n"
            + "OK2@A.test,Two,,,\n"
            + "alice@a.test,Alice again,member,,\n"
            + "not-an-email,Bad,member,,\n"
            + "neg@a.test,Neg,member,-5,\n"
            + "big@a.test,Big,member,99999999999999999999,\n"
            + "word@a.test,Word,member,lots,\n"
            + "boss@a.test,Boss,super_admin,,\n"
            + "owner@a.test,Owner,owner,,\n"
            + "=HYPERLINK(\"http://evil\")@a.test,Evil,member,,\n"
            + "formula@a.test,=1+2,member,,\n"
            + "ok1@a.test,Dup in file,member,,\n"
            + "other@b.test,Other domain ok,finance,,\n")


def test_import_gives_a_result_per_row_and_rerunning_changes_nothing(world, session, engine):
    rows = parse_csv(BAD_FILE.encode())
    batch = import_rows(session, actor=world.actor(world.admin), rows=rows)
    session.commit()
    got = [(r.row, r.status) for r in batch.results]
    assert got == [(2, CREATED), (3, CREATED), (4, EXISTS), (5, INVALID), (6, INVALID), (7, INVALID),
                   (8, INVALID), (9, INVALID), (10, INVALID), (11, INVALID), (12, INVALID), (13, EXISTS),
                   (14, CREATED)]
    reasons = {r.row: r.reason for r in batch.results}
    assert "not a valid email" in reasons[5] and "cannot be negative" in reasons[6]
    assert "too large" in reasons[7] and "whole number" in reasons[8]
    assert "not allowed to grant" in reasons[9] and "Role must be one of" in reasons[10]
    assert "formula" in reasons[11] and "formula" in reasons[12]
    created = {r.email: r for r in batch.results if r.status == CREATED}
    assert set(created) == {"ok1@a.test", "ok2@a.test", "other@b.test"}
    assert all("/invite?token=" in r.link for r in created.values())
    assert [i.email for i in batch.invites] == ["ok1@a.test", "ok2@a.test", "other@b.test"]
    for addr in created:
        u = session.exec(select(User).where(User.email == addr)).one()
        assert u.org_id == world.org.id
    assert session.exec(select(User).where(User.email == "ok1@a.test")).one().max_tokens == 300_000
    assert session.exec(select(User).where(User.email == "other@b.test")).one().role == "finance"
    audited = session.exec(select(AuditEvent).where(AuditEvent.action == "user.create",
                                                    AuditEvent.actor_id == world.admin.id)).all()
    assert len(audited) == 3
    session.rollback()

    before = snapshot(engine)
    again = import_rows(session, actor=world.actor(world.admin), rows=parse_csv(BAD_FILE.encode()))
    session.commit()
    assert [r.status for r in again.results].count(CREATED) == 0
    assert {r.row for r in again.results if r.status == EXISTS} == {2, 3, 4, 13, 14}
    assert again.invites == []
    assert snapshot(engine) == before


def test_import_rows_rejects_junk_arguments_and_rows(world, session):
    actor = world.actor(world.admin)
    with pytest.raises(Invalid):
        import_rows(session, actor=actor, rows="nope")
    with pytest.raises(Invalid):
        import_rows(session, actor=actor, rows=[{}] * (BATCH_ROWS * 4 + 1))
    junk = import_rows(session, actor=actor, rows=[None, 5, {"email": ["x"]}, {"row": True, "email": "j@a.test",
                                                                              "max_tokens": {"a": 1}}])
    assert [r.status for r in junk.results] == [INVALID, INVALID, INVALID, CREATED]
    assert junk.results[3].row == 0


def test_super_admin_imports_into_the_chosen_org_only(world, session):
    with pytest.raises(Invalid, match="Choose an organization"):
        import_rows(session, actor=world.actor(world.super_user), rows=[])
    batch = import_rows(session, actor=world.actor(world.super_user, org_id=world.other_org.id),
                        rows=parse_csv((HEADER + "s@b.test,S,admin,,\n").encode()))
    session.commit()
    assert batch.results[0].status == CREATED
    assert session.exec(select(User).where(User.email == "s@b.test")).one().org_id == world.other_org.id


def test_two_admins_importing_the_same_file_at_once_create_each_user_once(world, engine):
    lines = "".join(f"same{i}@a.test,S{i},member,,\n" for i in range(40))
    rows = parse_csv((HEADER + lines).encode())
    actor = world.actor(world.admin)
    barrier, results, errors = threading.Barrier(2), [], []

    def worker():
        try:
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait()
                batch = import_rows(s, actor=actor, rows=rows)
                s.commit()
                results.append(batch)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    created = sum(1 for b in results for r in b.results if r.status == CREATED)
    assert created == 40
    with Session(engine) as s:
        assert len(s.exec(select(User).where(User.email.like("same%"))).all()) == 40


def test_accepting_an_invitation_signs_out_old_sessions(world, session):
    added = add_user(session, actor=world.actor(world.admin), email="s@a.test").value
    user = session.get(User, added.user_id)
    token = sessions.create(session, user)
    session.commit()
    invitations.accept(session, token=_token(added.link), password="a-good-long-password")
    session.commit()
    assert sessions.resolve(session, token) is None


def test_an_admin_can_reissue_an_invitation_in_scope_only(world, session):
    added = add_user(session, actor=world.actor(world.admin), email="re@a.test").value
    session.commit()
    fresh = invitations.reissue(session, actor=world.actor(world.admin), user_id=added.user_id)
    session.commit()
    with pytest.raises(Invalid):
        invitations.peek(session, token=_token(added.link))
    assert invitations.peek(session, token=_token(fresh.link)) == "re@a.test"
    from services.core.errors import NotFound

    for bad in (world.carol.id, 10**12, "1", None):
        with pytest.raises(NotFound):
            invitations.reissue(session, actor=world.actor(world.admin), user_id=bad)
    with pytest.raises(Forbidden):
        invitations.reissue(session, actor=world.actor(world.finance), user_id=added.user_id)
    invitations.accept(session, token=_token(fresh.link), password="a-good-long-password")
    session.commit()
    with pytest.raises(Conflict, match="already set a password"):
        invitations.reissue(session, actor=world.actor(world.admin), user_id=added.user_id)
