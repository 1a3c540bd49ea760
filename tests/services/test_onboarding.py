"""Enterprise onboarding: every rule of a request, review decisions, activation (one transaction, idempotent,
atomic, safe under concurrent activations), invitations and notifications."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models import AuditEvent, EnterpriseRequest, Notification, Organization, PasswordReset, Purchase, User, utcnow
from services.auth import signin
from services.core import settings, user_records
from services.core.actor import Actor, system_actor
from services.core.errors import Conflict, Forbidden, Invalid, NotFound, StepUpRequired
from services.core.passwords import hash_password
from services.onboarding import enterprise
from services.onboarding import invites as invitations
from services.orgs import organizations
from services.tokens.pool import compute_summary
from services.users import accounts
from tests.conftest import snapshot

from .test_password_reset import smtp  # noqa: F401  (a real local SMTP server)

PW_HASH = hash_password("a-long-password")


def registered(s: Session, email: str, name: str = "") -> User:
    """A self-registered account: no organization yet."""
    u = User(email=email, name=name, password_hash=PW_HASH, verified=True)
    s.add(u)
    s.flush()
    return u


class People:
    def __init__(self, s: Session):
        sysa = system_actor()
        mk = lambda email, **kw: registered(s, email, **kw)  # noqa: E731
        self.root = accounts.create_user(s, actor=sysa, email="root@steward.test", role="super_admin",
                                      password="a-long-password", verified=True).value
        self.acme = organizations.create_org(s, actor=sysa, name="Acme Corp")
        self.requester = mk("req@new.test", name="Rita Requester")
        self.u1 = mk("u1@new.test")
        self.u2 = mk("u2@new.test")
        self.u3 = mk("u3@new.test")
        self.taken = accounts.create_user(s, actor=system_actor(self.acme.id), email="bob@acme.test",
                                       password="a-long-password", verified=True).value
        s.commit()

    def actor(self, u: User, mfa_at=None) -> Actor:
        return Actor(u.id, u.role, u.org_id, email=u.email, mfa_verified_at=mfa_at or utcnow())


def form(**kw) -> dict:
    data = {"org_name": "New Co", "billing_address": "1 Main St",
            "user_emails": "req@new.test\nu1@new.test, u2@new.test",
            "admin_emails": "req@new.test", "tokens": "2,000,000", "training_tokens": "", "notes": ""}
    data.update(kw)
    return data


@pytest.fixture
def p(session) -> People:
    return People(session)


def msgs(check, fld) -> str:
    return " | ".join(check.messages[fld])


# ------------------------------------------------------------------------------------------------ rules
def test_a_good_request_passes_and_is_stored(session, p):
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form())
    assert check.ok, check.messages
    assert check.user_emails == ["req@new.test", "u1@new.test", "u2@new.test"] and check.tokens == 2_000_000
    r = enterprise.submit(session, actor=p.actor(p.requester), data=form()).value
    session.commit()
    assert r.status == "pending" and r.requester_id == p.requester.id
    assert [x["status"] for x in enterprise.my_requests(session, actor=p.actor(p.requester))] == ["pending"]
    assert enterprise.my_requests(session, actor=p.actor(p.u1)) == []
    ev = session.exec(select(AuditEvent).where(AuditEvent.action == "enterprise_request.submit")).one()
    assert ev.actor_id == p.requester.id


def test_minimum_users_is_a_setting(session, p, monkeypatch):
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(user_emails="req@new.test"))
    assert "at least 2 users (you listed 1)" in msgs(check, "user_emails")
    monkeypatch.setattr(settings, "MIN_USERS", 4)  # the older rule of the seeds
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(tokens="2000000"))
    assert "at least 4 users (you listed 3)" in msgs(check, "user_emails")
    assert "4 users need at least 800,000" not in msgs(check, "tokens")  # 2M covers 4 × 200K


def test_admins_are_required_and_must_be_users(session, p):
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(admin_emails=""))
    assert "List at least 1 admin." in msgs(check, "admin_emails")
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(admin_emails="u3@new.test"))
    assert "Admins must also be listed as users: u3@new.test." in msgs(check, "admin_emails")


def test_unregistered_and_invited_emails_are_listed(session, p):
    check = enterprise.validate(session, actor=p.actor(p.requester),
                                data=form(user_emails="req@new.test u1@new.test ghost@x.test ghost2@x.test"))
    assert check.unregistered == ["ghost@x.test", "ghost2@x.test"]
    assert "Not registered yet: ghost@x.test, ghost2@x.test." in msgs(check, "user_emails")
    invitations.invite(session, actor=p.actor(p.requester), emails="ghost@x.test")
    check = enterprise.validate(session, actor=p.actor(p.requester),
                                data=form(user_emails="req@new.test u1@new.test ghost@x.test"))
    assert check.invited == ["ghost@x.test"] and check.unregistered == []
    assert "Invited but not registered yet: ghost@x.test." in msgs(check, "user_emails")


def test_tokens_per_user_and_multiples_are_settings(session, p, monkeypatch):
    many = " ".join(f"m{i}@new.test" for i in range(12))
    for i in range(12):
        registered(session, f"m{i}@new.test")
    session.commit()
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(user_emails="req@new.test " + many))
    assert "13 users need at least 2,600,000" in msgs(check, "tokens")
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(tokens="3000000"))
    assert "multiples of 2,000,000: 3,000,000 is not one (try 2,000,000 or 4,000,000)" in msgs(check, "tokens")
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(training_tokens="1000000"))
    assert "Training tokens are sold in multiples of 2,000,000" in msgs(check, "training_tokens")
    monkeypatch.setattr(settings, "MIN_TOKENS_PER_USER", 500_000)  # the older rule of the seeds
    monkeypatch.setattr(settings, "PURCHASE_MULTIPLE", 1_000_000)
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(tokens="1000000"))
    assert msgs(check, "tokens") == "At least 500,000 tokens per user: 3 users need at least 1,500,000."


@pytest.mark.parametrize("value,expected", [("1.5", "whole number"), ("abc", "whole number"), ("-2000000", "negative"),
                                            ("", "Enter the number of tokens"), ("9" * 30, "too large"),
                                            (2.5, "whole number"), (None, "Enter the number of tokens")])
def test_amounts_that_are_not_whole_numbers(session, p, value, expected):
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(tokens=value))
    assert expected in msgs(check, "tokens")


def test_users_already_in_an_organization_are_named(session, p):
    check = enterprise.validate(session, actor=p.actor(p.requester),
                                data=form(user_emails="req@new.test u1@new.test bob@acme.test root@steward.test"))
    assert "Already in another enterprise organization: bob@acme.test (Acme Corp)." in msgs(check, "user_emails")
    assert "Super admins cannot join an organization: root@steward.test." in msgs(check, "user_emails")


def test_duplicates_malformed_and_too_many_emails(session, p, monkeypatch):
    check = enterprise.validate(session, actor=p.actor(p.requester),
                                data=form(user_emails="req@new.test, U1@new.test; u1@new.test not-an-email a@@b"))
    m = msgs(check, "user_emails")
    assert "Not valid e-mail addresses: not-an-email, a@@b." in m and "Listed more than once: u1@new.test." in m
    pasted = "\n".join(f"person{i}@big.test" for i in range(3000))
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(user_emails=pasted))
    assert "You entered 3,000 e-mail addresses; at most 500 fit in one request" in msgs(check, "user_emails")
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(user_emails="x" * 10_000_000))
    assert "too much text" in msgs(check, "user_emails")
    for bad in ([1, 2], {"a": 1}, 42):
        assert not enterprise.validate(session, actor=p.actor(p.requester), data=form(user_emails=bad)).ok


def test_organization_name_taken_or_already_requested(session, p):
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(org_name="acme corp"))
    assert "An organization named 'acme corp' already exists" in msgs(check, "org_name")
    enterprise.submit(session, actor=p.actor(p.requester), data=form())
    check = enterprise.validate(session, actor=p.actor(p.u1), data=form(org_name="NEW CO"))
    assert "already under review" in msgs(check, "org_name")
    check = enterprise.validate(session, actor=p.actor(p.requester), data=form(org_name="", billing_address=" "))
    assert "Organization name is required." in msgs(check, "org_name")
    assert "Billing address is required." in msgs(check, "billing_address")


def test_a_bad_request_stores_nothing(session, engine, p):
    before = snapshot(engine)
    for bad in (form(user_emails="req@new.test"), form(tokens="abc"), form(org_name="Acme Corp"), None, [1]):
        with pytest.raises(Invalid):
            enterprise.submit(session, actor=p.actor(p.requester), data=bad)
        session.rollback()
    assert snapshot(engine) == before


def test_open_requests_per_user_are_limited(session, p, monkeypatch):
    monkeypatch.setattr(settings, "ONBOARDING_OPEN_PER_USER", 1)
    enterprise.submit(session, actor=p.actor(p.requester), data=form())
    with pytest.raises(Conflict, match="already have 1 requests"):
        enterprise.submit(session, actor=p.actor(p.requester), data=form(org_name="Other Co"))


# ------------------------------------------------------------------------------------------------ review
def _submitted(session, p, **kw) -> EnterpriseRequest:
    r = enterprise.submit(session, actor=p.actor(p.requester), data=form(**kw)).value
    session.commit()
    return r


def test_only_super_admins_review(session, engine, p):
    r = _submitted(session, p)
    admin = accounts.create_user(session, actor=system_actor(p.acme.id), email="adm@acme.test", role="admin").value
    session.commit()
    before = snapshot(engine)
    for who in (p.requester, admin):
        a = p.actor(who)
        for call in (lambda a=a: enterprise.review(session, actor=a, request_id=r.id),
                     lambda a=a: enterprise.list_requests(session, actor=a),
                     lambda a=a: enterprise.reject(session, actor=a, request_id=r.id, reason="no"),
                     lambda a=a: enterprise.mark_awaiting_payment(session, actor=a, request_id=r.id),
                     lambda a=a: enterprise.activate(session, actor=a, request_id=r.id)):
            with pytest.raises(Forbidden):
                call()
            session.rollback()
    assert snapshot(engine) == before


def test_review_reruns_the_rules(session, p):
    r = _submitted(session, p)
    root = p.actor(p.root)
    detail, check = enterprise.review(session, actor=root, request_id=r.id)
    assert check.ok and detail["requester"] == "req@new.test" and detail["users"] == 3
    # u1 joins Acme after the request was sent: the review says so
    p.u1.org_id = p.acme.id
    session.add(p.u1)
    session.commit()
    _, check = enterprise.review(session, actor=root, request_id=r.id)
    assert "u1@new.test (Acme Corp)" in msgs(check, "user_emails")
    with pytest.raises(Invalid, match="Cannot activate: .*u1@new.test"):
        enterprise.activate(session, actor=root, request_id=r.id)
    for bad in (None, "1", 10**9, True):
        with pytest.raises(NotFound):
            enterprise.review(session, actor=root, request_id=bad)


def test_reject_with_reason_notifies_the_requester(session, p, smtp):  # noqa: F811
    r = _submitted(session, p)
    root = p.actor(p.root)
    with pytest.raises(Invalid, match="Reason is required"):
        enterprise.reject(session, actor=root, request_id=r.id, reason="  ")
    enterprise.reject(session, actor=root, request_id=r.id, reason="Duplicate of an existing customer")
    session.commit()
    assert enterprise.my_requests(session, actor=p.actor(p.requester))[0]["status"] == "rejected"
    note = session.exec(select(Notification).where(Notification.user_id == p.requester.id)).one()
    assert "Duplicate of an existing customer" in note.body
    session.commit()  # mail leaves after the commit; the sender needs the write lock
    [(rcpt, body)] = smtp.messages
    assert rcpt == ["req@new.test"] and "rejected" in body
    with pytest.raises(Conflict, match="already rejected"):
        enterprise.activate(session, actor=root, request_id=r.id)


def test_awaiting_payment_without_smtp_notifies_in_app_only(session, p, monkeypatch):
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    sent = []
    monkeypatch.setattr("services.core.mailer.send_now", lambda *a, **k: sent.append(a))
    r = _submitted(session, p)
    root = p.actor(p.root)
    enterprise.mark_awaiting_payment(session, actor=root, request_id=r.id)
    again = enterprise.mark_awaiting_payment(session, actor=root, request_id=r.id)
    session.commit()
    assert again.warnings and sent == []
    assert len(session.exec(select(Notification).where(Notification.user_id == p.requester.id)).all()) == 1
    assert enterprise.count_open(session, actor=root) == 1


# ------------------------------------------------------------------------------------------------ activation
def test_activation_creates_everything_in_one_step(session, p, smtp):  # noqa: F811
    r = _submitted(session, p, training_tokens="2000000")
    root = p.actor(p.root)
    enterprise.mark_awaiting_payment(session, actor=root, request_id=r.id)
    org_id = enterprise.activate(session, actor=root, request_id=r.id).value
    session.commit()
    org = session.get(Organization, org_id)
    assert org.name == "New Co" and org.billing_address == "1 Main St" and org.email == "req@new.test"
    members = {u.email: u for u in session.exec(select(User).where(User.org_id == org_id)).all()}
    assert set(members) == {"req@new.test", "u1@new.test", "u2@new.test"}
    assert members["req@new.test"].role == "admin" and not members["req@new.test"].mfa_enabled
    assert members["u1@new.test"].role == "member"
    assert all(u.paid and u.max_tokens >= 200_000 for u in members.values())
    [purchase] = session.exec(select(Purchase).where(Purchase.org_id == org_id)).all()
    assert (purchase.tokens, purchase.training_tokens) == (2_000_000, 2_000_000)
    assert purchase.expires_at - purchase.purchased_at == timedelta(days=settings.PURCHASE_VALID_DAYS)
    summary = compute_summary(session, org_id)
    assert summary.users == 3 and summary.tokens.purchased == 2_000_000 and summary.tokens.assigned == 600_000
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()]
    assert actions[-6:] == ["org.create", "user.update", "user.update", "user.update", "purchase.create",
                            "enterprise_request.activate"]
    session.commit()  # mail leaves after the commit; the sender needs the write lock
    assert [m[0] for m in smtp.messages] == [["req@new.test"], ["req@new.test"]]  # awaiting payment, active
    assert enterprise.count_open(session, actor=root) == 0


def test_activating_twice_does_nothing_more(session, engine, p):
    r = _submitted(session, p)
    root = p.actor(p.root)
    org_id = enterprise.activate(session, actor=root, request_id=r.id).value
    session.commit()
    before = snapshot(engine)
    again = enterprise.activate(session, actor=root, request_id=r.id)
    session.commit()
    assert again.value == org_id and "nothing changed" in again.warnings[0]
    assert snapshot(engine) == before


def test_activation_needs_a_recent_mfa(session, engine, p):
    r = _submitted(session, p)
    before = snapshot(engine)
    stale = p.actor(p.root, mfa_at=utcnow() - timedelta(hours=1))
    with pytest.raises(StepUpRequired):
        enterprise.activate(session, actor=stale, request_id=r.id)
    session.rollback()
    assert snapshot(engine) == before


def test_a_failure_halfway_leaves_no_org(session, engine, p, monkeypatch):
    r = _submitted(session, p)
    before = snapshot(engine)

    def boom(*a, **k):  # after the org exists and the users were moved into it
        assert session.exec(select(User).where(User.org_id.is_not(None), User.email.like("%new.test"))).all()
        raise RuntimeError("disk full")

    monkeypatch.setattr(organizations, "record_purchase", boom)
    with pytest.raises(RuntimeError):
        enterprise.activate(session, actor=p.actor(p.root), request_id=r.id)
    session.rollback()
    assert snapshot(engine) == before
    assert session.exec(select(Organization).where(Organization.name == "New Co")).first() is None


def test_concurrent_activations_create_one_org(engine, session, p):
    r = _submitted(session, p)
    root = p.actor(p.root)
    barrier = threading.Barrier(4, timeout=60)

    def go(_):
        barrier.wait()
        with Session(engine, expire_on_commit=False) as s:
            try:
                res = enterprise.activate(s, actor=root, request_id=r.id)
                s.commit()
                return res.value, bool(res.warnings)
            except Exception as e:  # noqa: BLE001
                s.rollback()
                return repr(e), None

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(go, range(4)))
    assert len({v for v, _ in results}) == 1, results
    assert sorted(w for _, w in results) == [False, True, True, True]
    with Session(engine) as s:
        assert len(s.exec(select(Organization).where(Organization.name == "New Co")).all()) == 1
        assert len(s.exec(select(Purchase).where(Purchase.comment == f"Enterprise request #{r.id}")).all()) == 1


# ------------------------------------------------------------------------------------------------ invitations
def test_invitation_link_registers_the_account_without_smtp(session, p, monkeypatch):
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    [out] = invitations.invite(session, actor=p.actor(p.requester), emails="New.Person@x.test")
    session.commit()
    assert out["status"] == "invited" and not out["sent"] and "/reset-password?token=" in out["link"]
    invited = user_records.find_by_email(session, "new.person@x.test")
    assert invited.org_id is None and not invited.verified and invited.password_hash is None
    signin.reset_password(session, token=out["link"].split("token=")[1], new_password="my-new-password-1")
    session.commit()
    check = enterprise.validate(session, actor=p.actor(p.requester),
                                data=form(user_emails="req@new.test new.person@x.test"))
    assert check.ok, check.messages
    assert invitations.invite(session, actor=p.actor(p.requester), emails="new.person@x.test")[0]["status"] \
        == "registered"


def test_invitation_by_mail_when_smtp_is_configured(session, p, smtp):  # noqa: F811
    out = invitations.invite(session, actor=p.actor(p.requester), emails="a@x.test b@x.test")
    session.commit()
    assert [o["sent"] for o in out] == [True, True] and all(o["link"] == "" for o in out)
    session.commit()  # mail leaves after the commit; the sender needs the write lock
    assert sorted(m[0][0] for m in smtp.messages) == ["a@x.test", "b@x.test"]
    assert "reset-password?token=" in smtp.messages[0][1]


def test_invitations_are_limited(session, p, monkeypatch):
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    monkeypatch.setattr(settings, "ONBOARDING_MAX_EMAILS", 3)
    with pytest.raises(Invalid, match="at most 3 fit"):
        invitations.invite(session, actor=p.actor(p.requester), emails="a@x.test b@x.test c@x.test d@x.test")
    invitations.invite(session, actor=p.actor(p.requester), emails="a@x.test b@x.test")
    with pytest.raises(Invalid, match="at most 3 invitations a day"):
        invitations.invite(session, actor=p.actor(p.requester), emails="c@x.test d@x.test")
    with pytest.raises(Invalid):
        invitations.invite(session, actor=p.actor(p.requester), emails="not an email")
    assert len(session.exec(select(PasswordReset)).all()) == 2
