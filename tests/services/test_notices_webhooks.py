"""Threshold notices (80/90/100 % of a user's cap and of the org pool, once per period, unread count, mark
read) and webhook delivery (HMAC signature, retries with backoff, failures recorded) against a real local
HTTP server thread."""

import json
import threading
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from models import Notice, OrgWebhook, Purchase, WebhookDelivery, utcnow
from services.core import settings, webhooks
from services.core.errors import Forbidden, Invalid, StepUpRequired
from services.tokens import notices
from tests.services.gateway_helpers import event, report, setup
from tests.services.test_concurrency import run_together


@pytest.fixture
def w(world, session):
    return setup(world, session)


def all_notices(session):
    rows = session.exec(select(Notice).order_by(Notice.id)).all()
    session.commit()
    return [(n.scope, n.subject_id, n.kind, n.threshold, n.period) for n in rows]


def test_user_cap_thresholds_are_recorded_once_per_month(engine, w, session):
    now = utcnow()
    period = now.strftime("%Y-%m")
    report(engine, w.org.id, [event(w.alice.id, 399_999)], now=now)
    assert all_notices(session) == []
    report(engine, w.org.id, [event(w.alice.id, 1)], now=now)  # 400,000 of 500,000 = 80 %
    assert all_notices(session) == [("user", w.alice.id, "tokens", 80, period)]
    report(engine, w.org.id, [event(w.alice.id, 10)], now=now)
    assert len(all_notices(session)) == 1
    report(engine, w.org.id, [event(w.alice.id, 200_000)], now=now)  # jumps past 90 and 100 at once
    assert [n[3] for n in all_notices(session)] == [80, 90, 100]
    admin = w.actor(w.admin)
    assert notices.unread_count(session, actor=admin) == 3
    listed = notices.list_notices(session, actor=admin)
    assert [n["threshold"] for n in listed] == [100, 90, 80]
    assert "alice@a.test has used 100% of the monthly token cap" in listed[0]["message"]
    assert notices.mark_all_read(session, actor=admin) == 3
    session.commit()
    assert notices.unread_count(session, actor=admin) == 0
    assert notices.unread_count(session, actor=w.actor(w.other_admin)) == 0
    session.commit()
    # A new month is a new period: the crossing is recorded again.
    next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=2)
    report(engine, w.org.id, [event(w.alice.id, 450_000)], now=next_month)
    assert [n[3:] for n in all_notices(session)][3:] == [(80, next_month.strftime("%Y-%m")),
                                                          (90, next_month.strftime("%Y-%m"))]


def test_org_pool_thresholds_and_a_new_purchase_starts_a_new_period(engine, w, session):
    for p in session.exec(select(Purchase).where(Purchase.org_id == w.org.id)).all():
        p.tokens = 500_000
        session.add(p)
    session.commit()
    report(engine, w.org.id, [event(w.bob.id, 225_000), event(w.alice.id, 225_000)])  # 90 % of the pool
    org = [n for n in all_notices(session) if n[0] == "org"]
    assert [n[3] for n in org] == [80, 90] and {n[1] for n in org} == {w.org.id}
    session.add(Purchase(org_id=w.org.id, tokens=500_000, expires_at=utcnow() + timedelta(days=30)))
    session.commit()
    report(engine, w.org.id, [event(w.bob.id, 75_000)])  # 525k of 1M: below 80 % of the new pool
    assert len([n for n in all_notices(session) if n[0] == "org"]) == 2
    report(engine, w.org.id, [event(w.alice.id, 275_000)])  # 800k of 1M
    org = [n for n in all_notices(session) if n[0] == "org"]
    assert len(org) == 3 and org[-1][3] == 80 and org[-1][4] != org[0][4]


def test_concurrent_reports_record_each_crossing_once(engine, w, session):
    def worker(i, barrier):
        barrier.wait()
        try:
            report(engine, w.org.id, [event(w.alice.id, 70_000, key=f"n{i}")])
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    errors = [e for e in run_together(8, worker) if e]
    assert errors == []
    assert sorted(n[3] for n in all_notices(session) if n[0] == "user") == [80, 90, 100]


@pytest.mark.parametrize("who", ["alice"])
def test_members_cannot_read_notices(w, session, who):
    with pytest.raises(Forbidden):
        notices.unread_count(session, actor=w.actor(getattr(w, who)))


# --------------------------------------------------------------------------------------------- webhooks
class Receiver:
    """A real HTTP server in a thread; answers with the next code of `codes` (then 200)."""

    def __init__(self, codes):
        self.codes = list(codes)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def fresh(actor):
    return replace(actor, mfa_verified_at=utcnow())


@pytest.fixture
def local_receiver_allowed(monkeypatch):
    """The tests' receiver listens on http://127.0.0.1: allowed the way an operator allows an internal host."""
    monkeypatch.setattr(settings, "WEBHOOK_ALLOW_HTTP", True)
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")


def test_webhook_settings_need_step_up_and_valid_urls(w, session, dns):
    admin = w.actor(w.admin)
    with pytest.raises(StepUpRequired):
        webhooks.set_webhook(session, actor=admin, url="https://hooks.example.com/h")
    for bad in ("ftp://x", "not a url", "", "https://" + "x" * 500, None):
        with pytest.raises(Invalid):
            webhooks.set_webhook(session, actor=fresh(admin), url=bad)
    secret = webhooks.set_webhook(session, actor=fresh(admin), url="https://hooks.example.com/h")
    assert secret.startswith("whsec_")
    assert secret not in session.get(OrgWebhook, w.org.id).secret_enc
    assert webhooks.set_webhook(session, actor=fresh(admin), url="https://hooks.example.com/2") is None
    assert webhooks.set_webhook(session, actor=fresh(admin), url="https://hooks.example.com/2",
                                rotate_secret=True) != secret
    assert webhooks.get_webhook(session, actor=admin)["url"] == "https://hooks.example.com/2"
    with pytest.raises(Forbidden):
        webhooks.get_webhook(session, actor=w.actor(w.finance))
    session.rollback()


def test_webhook_is_signed_retried_with_backoff_and_failures_are_visible(engine, w, session, monkeypatch,
                                                                         local_receiver_allowed):
    monkeypatch.setattr(settings, "WEBHOOK_BACKOFF_SECONDS", 10)
    monkeypatch.setattr(settings, "WEBHOOK_MAX_ATTEMPTS", 3)
    rx = Receiver([500, 503])  # fails twice, then accepts
    try:
        admin = fresh(w.actor(w.admin))
        secret = webhooks.set_webhook(session, actor=admin, url=rx.url)
        session.commit()
        t0 = utcnow()
        report(engine, w.org.id, [event(w.alice.id, 400_000)], now=t0)  # crosses 80 %
        assert webhooks.deliver_due(engine, now=t0) == {"delivered": 0, "pending": 1, "failed": 0}
        d = session.exec(select(WebhookDelivery)).one()
        assert (d.attempts, d.last_status, d.last_error, d.next_attempt_at) == (
            1, 500, "HTTP 500", t0 + timedelta(seconds=10))
        session.commit()
        assert webhooks.deliver_due(engine, now=t0 + timedelta(seconds=9)) == {
            "delivered": 0, "pending": 0, "failed": 0}
        assert webhooks.deliver_due(engine, now=t0 + timedelta(seconds=10))["pending"] == 1  # 503
        d = session.get(WebhookDelivery, d.id, populate_existing=True)
        assert d.next_attempt_at == t0 + timedelta(seconds=30)  # backoff doubled
        session.commit()
        assert webhooks.deliver_due(engine, now=t0 + timedelta(seconds=30))["delivered"] == 1
        assert len(rx.requests) == 3
        headers, body = rx.requests[-1]
        ts = int(headers["X-Steward-Timestamp"])
        assert webhooks.verify(secret, ts, body, headers["X-Steward-Signature"])
        assert not webhooks.verify("whsec_wrong", ts, body, headers["X-Steward-Signature"])
        payload = json.loads(body)
        assert payload["event"] == "notice.threshold" and payload["data"]["threshold"] == 80
        assert payload["org_id"] == w.org.id
        session.expire_all()
        listed = webhooks.list_deliveries(session, actor=admin)
        assert [(x["status"], x["attempts"]) for x in listed] == [("delivered", 3)]
        session.commit()
    finally:
        rx.close()


def test_webhook_gives_up_after_max_attempts(engine, w, session, monkeypatch, local_receiver_allowed):
    monkeypatch.setattr(settings, "WEBHOOK_BACKOFF_SECONDS", 1)
    monkeypatch.setattr(settings, "WEBHOOK_MAX_ATTEMPTS", 2)
    rx = Receiver([500] * 5)
    rx.close()  # nothing listens any more: connection refused
    admin = fresh(w.actor(w.admin))
    webhooks.set_webhook(session, actor=admin, url=rx.url)
    session.commit()
    t0 = utcnow()
    report(engine, w.org.id, [event(w.alice.id, 400_000)], now=t0)
    assert webhooks.deliver_due(engine, now=t0)["pending"] == 1
    assert webhooks.deliver_due(engine, now=t0 + timedelta(seconds=5))["failed"] == 1
    assert webhooks.deliver_due(engine, now=t0 + timedelta(days=1)) == {"delivered": 0, "pending": 0, "failed": 0}
    listed = webhooks.list_deliveries(session, actor=admin)
    assert listed[0]["status"] == "failed" and listed[0]["attempts"] == 2 and "Connect" in listed[0]["last_error"]
    session.commit()


def test_no_webhook_means_no_delivery(engine, w, session):
    report(engine, w.org.id, [event(w.alice.id, 400_000)])
    assert session.exec(select(WebhookDelivery)).all() == []
    session.commit()
    assert len(all_notices(session)) == 1


# ------------------------------------------------------------------------------------- where webhooks go
INTERNAL = ["https://127.0.0.1/h", "https://localhost/h", "https://[::1]/h", "https://10.0.0.5/h",
            "https://172.16.3.4/h", "https://192.168.1.1/h", "https://169.254.169.254/latest/meta-data",
            "https://[fc00::1]/h", "https://[fe80::1]/h", "https://224.0.0.1/h", "https://0.0.0.0/h",
            "https://[::ffff:127.0.0.1]/h", "https://100.64.0.1/h", "https://internal.example.com/h",
            "https://2130706433/h"]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_webhook_to_an_internal_address_is_refused_at_save(w, session, dns, url):
    with pytest.raises(Invalid, match="Webhooks may only reach public addresses") as e:
        webhooks.set_webhook(session, actor=fresh(w.actor(w.admin)), url=url)
    assert e.value.field == "url"
    session.rollback()
    assert session.get(OrgWebhook, w.org.id) is None


def test_a_webhook_must_be_https_and_carry_no_credentials(w, session, dns, monkeypatch):
    admin = fresh(w.actor(w.admin))
    with pytest.raises(Invalid, match="must start with https://"):
        webhooks.set_webhook(session, actor=admin, url="http://hooks.example.com/h")
    with pytest.raises(Invalid, match="user name or password"):
        webhooks.set_webhook(session, actor=admin, url="https://me:pw@hooks.example.com/h")
    with pytest.raises(Invalid, match="cannot be resolved"):
        webhooks.set_webhook(session, actor=admin, url="https://no-such-host.invalid/h")
    monkeypatch.setattr(settings, "WEBHOOK_ALLOW_HTTP", True)
    assert webhooks.set_webhook(session, actor=admin, url="http://hooks.example.com/h").startswith("whsec_")
    with pytest.raises(Invalid, match="public addresses"):  # http allowed does not allow internal hosts
        webhooks.set_webhook(session, actor=admin, url="http://127.0.0.1:8080/h")
    session.rollback()


def test_dns_that_changes_after_save_is_checked_again_at_send(engine, w, session, dns, monkeypatch):
    """Saved while the name resolved to a public address; at send time it resolves to loopback (DNS
    rebinding): nothing is sent, and the delivery says why."""
    monkeypatch.setattr(settings, "WEBHOOK_ALLOW_HTTP", True)
    rx = Receiver([])
    try:
        port = rx.server.server_address[1]
        dns.answers["rebind.example.com"] = ["93.184.215.14"]
        webhooks.set_webhook(session, actor=fresh(w.actor(w.admin)), url=f"http://rebind.example.com:{port}/hook")
        session.commit()
        dns.answers["rebind.example.com"] = ["127.0.0.1"]
        t0 = utcnow()
        report(engine, w.org.id, [event(w.alice.id, 400_000)], now=t0)
        assert webhooks.deliver_due(engine, now=t0) == {"delivered": 0, "pending": 1, "failed": 0}
        assert rx.requests == []
        [listed] = webhooks.list_deliveries(session, actor=w.actor(w.admin))
        assert listed["last_status"] is None and listed["last_error"].startswith("Not sent: ")
        assert "loopback address (127.0.0.1)" in listed["last_error"]
        session.commit()
    finally:
        rx.close()


def test_an_allowed_internal_host_gets_the_post_at_the_checked_address_and_redirects_are_not_followed(
        engine, w, session, dns, monkeypatch):
    monkeypatch.setattr(settings, "WEBHOOK_ALLOW_HTTP", True)
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "hooks.internal.example.com")
    dns.answers["hooks.internal.example.com"] = ["127.0.0.1"]
    rx = Receiver([307])
    try:
        port = rx.server.server_address[1]
        webhooks.set_webhook(session, actor=fresh(w.actor(w.admin)),
                             url=f"http://hooks.internal.example.com:{port}/hook")
        session.commit()
        t0 = utcnow()
        report(engine, w.org.id, [event(w.alice.id, 400_000)], now=t0)
        assert webhooks.deliver_due(engine, now=t0)["pending"] == 1  # a 307 is a failed attempt, not followed
        assert len(rx.requests) == 1 and rx.requests[0][0]["Host"] == f"hooks.internal.example.com:{port}"
        assert webhooks.deliver_due(engine, now=t0 + timedelta(days=1))["delivered"] == 1
        session.commit()
    finally:
        rx.close()
