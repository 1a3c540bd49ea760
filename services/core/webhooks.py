"""Org webhooks: notices are POSTed as JSON, signed, retried with exponential backoff; failures stay visible.

Signature: header `X-Steward-Signature: sha256=<hex>` where hex = HMAC-SHA256(secret, "<timestamp>.<body>")
and `X-Steward-Timestamp: <unix seconds>`; receivers recompute it and reject old timestamps.
Delivery is an outbox: the notice's transaction adds a `webhook_delivery` row; `deliver_due` claims due rows
(a conditional UPDATE, so several workers never send the same row at once), sends outside any transaction,
then records the outcome. After WEBHOOK_MAX_ATTEMPTS failures a delivery is `failed`.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta

import httpx
from sqlmodel import Session, col, select, update

from models import OrgWebhook, WebhookDelivery, utcnow
from services.core import audit, outbound_url, settings, validation
from services.core.actor import Actor
from services.core.crypto import decrypt, encrypt, new_token
from services.core.db import session_scope
from services.core.errors import Invalid
from services.core.permissions import MANAGE, require_role, require_step_up, scoped_org_id
from services.core.workers import Worker

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Steward-Signature"
TIMESTAMP_HEADER = "X-Steward-Timestamp"
LEASE = timedelta(seconds=60)  # a claimed delivery is not picked again for this long (worker crashed mid-send)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), header or "")


def backoff(attempts: int) -> timedelta:
    """Wait before attempt n+1 after n failed attempts: BACKOFF, 2×, 4× … (capped at one day)."""
    return timedelta(seconds=min(86_400, settings.WEBHOOK_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


# --------------------------------------------------------------------------------------------- settings
def _check_url(url) -> str:
    url = validation.text(url, "url", max_len=500, required=True)
    outbound_url.check(url)  # https, and a host on public addresses only (checked again at every send)
    return url


def get_webhook(session: Session, *, actor: Actor) -> dict | None:
    require_role(actor, MANAGE, "see the webhook")
    org_id = scoped_org_id(session, actor)
    hook = session.get(OrgWebhook, org_id)
    return None if hook is None else {"url": hook.url, "enabled": hook.enabled, "updated_at": hook.updated_at}


def set_webhook(session: Session, *, actor: Actor, url, enabled=True, rotate_secret=False,
                now: datetime | None = None) -> str | None:
    """Save the org's webhook URL. Returns the signing secret when a new one was made (first save or
    rotation): it is shown once and stored encrypted."""
    require_role(actor, MANAGE, "change the webhook")
    require_step_up(actor, now)
    org_id = scoped_org_id(session, actor)
    url = _check_url(url)
    enabled = validation.flag(enabled, "enabled")
    rotate_secret = validation.flag(rotate_secret, "rotate_secret")
    hook = session.get(OrgWebhook, org_id, with_for_update=True)
    before = None if hook is None else {"url": hook.url, "enabled": hook.enabled}
    secret = None
    if hook is None or rotate_secret:
        secret = "whsec_" + new_token(24)
    if hook is None:
        hook = OrgWebhook(org_id=org_id, url=url, secret_enc="", enabled=enabled)  # the new secret is stored below
    hook.url, hook.enabled, hook.updated_at = url, enabled, now or utcnow()
    if secret is not None:
        hook.secret_enc = encrypt(secret)
    session.add(hook)
    audit.record(session, actor, "webhook.set", org_id=org_id, target_type="webhook", target_id=org_id,
                 before=before, after={"url": url, "enabled": enabled, "secret_rotated": secret is not None})
    return secret


def remove_webhook(session: Session, *, actor: Actor, now: datetime | None = None) -> bool:
    require_role(actor, MANAGE, "change the webhook")
    require_step_up(actor, now)
    org_id = scoped_org_id(session, actor)
    hook = session.get(OrgWebhook, org_id)
    if hook is None:
        return False
    audit.record(session, actor, "webhook.remove", org_id=org_id, target_type="webhook", target_id=org_id,
                 before={"url": hook.url})
    session.delete(hook)
    return True


def list_deliveries(session: Session, *, actor: Actor, limit: int = 20) -> list[dict]:
    require_role(actor, MANAGE, "see webhook deliveries")
    org_id = scoped_org_id(session, actor)
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= 100 else 20
    rows = session.exec(select(WebhookDelivery).where(WebhookDelivery.org_id == org_id)
                        .order_by(col(WebhookDelivery.id).desc()).limit(limit)).all()
    return [{"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts,
             "last_status": d.last_status, "last_error": d.last_error, "created_at": d.created_at,
             "next_attempt_at": d.next_attempt_at, "delivered_at": d.delivered_at} for d in rows]


# --------------------------------------------------------------------------------------------- delivery
def enqueue(session: Session, org_id: int, event: str, payload: dict, *, notice_id: int | None = None,
            now: datetime | None = None) -> WebhookDelivery | None:
    """Queue a POST to the org's webhook (no webhook or disabled: nothing)."""
    hook = session.get(OrgWebhook, org_id)
    if hook is None or not hook.enabled:
        return None
    now = now or utcnow()
    body = json.dumps({"event": event, "org_id": org_id, "data": payload}, sort_keys=True, default=str)
    row = WebhookDelivery(org_id=org_id, notice_id=notice_id, event=event, payload=body[:4000], created_at=now,
                          next_attempt_at=now)
    session.add(row)
    return row


def _post(url: str, body: bytes, headers: dict) -> int:
    """POST to the address the URL's host resolves to now, if that address is still allowed (DNS may have
    changed since the URL was saved); no redirects are followed."""
    target = outbound_url.check(url)
    with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as client:
        return client.post(target.pinned_url, content=body, headers={**headers, "Host": target.host_header},
                           extensions={"sni_hostname": target.host}).status_code


def _claim(engine, now: datetime, limit: int) -> list[tuple[int, str, str, str]]:
    """Due deliveries taken by this worker: (id, url, secret, payload)."""
    out = []
    with session_scope(engine) as s:
        due = s.exec(select(WebhookDelivery).where(WebhookDelivery.status == "pending",
                                                   WebhookDelivery.next_attempt_at <= now)
                     .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id)).limit(limit)).all()
        for d in due:
            if d.id is None:  # a stored row always has its id
                continue
            took = s.exec(update(WebhookDelivery).where(
                col(WebhookDelivery.id) == d.id, col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.next_attempt_at) == d.next_attempt_at).values(next_attempt_at=now + LEASE))
            if not took.rowcount:
                continue
            hook = s.get(OrgWebhook, d.org_id)
            secret = decrypt(hook.secret_enc) if hook is not None else None
            out.append((d.id, hook.url if hook else "", secret or "", d.payload))
    return out


def _finish(engine, delivery_id: int, code: int | None, error: str, now: datetime) -> str:
    with session_scope(engine) as s:
        d = s.get(WebhookDelivery, delivery_id, with_for_update=True)
        if d is None:
            raise LookupError(f"Webhook delivery {delivery_id} was claimed but no longer exists.")
        d.attempts += 1
        d.last_status, d.last_error = code, error[:300]
        if code is not None and 200 <= code < 300:
            d.status, d.delivered_at, d.last_error = "delivered", now, ""
        elif d.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            d.status = "failed"
        else:
            d.next_attempt_at = now + backoff(d.attempts)
        s.add(d)
        return d.status


def deliver_due(engine=None, *, now: datetime | None = None, limit: int = 20, post=None) -> dict[str, int]:
    """Send every due delivery once; returns how many were delivered, retried later, or failed for good."""
    now = now or utcnow()
    post = post or _post
    counts = {"delivered": 0, "pending": 0, "failed": 0}
    for delivery_id, url, secret, payload in _claim(engine, now, limit):
        code, error = None, ""
        if not url or not secret:
            error = "The webhook was removed or its secret cannot be read."
        else:
            body = payload.encode()
            ts = int(time.time())
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
                       SIGNATURE_HEADER: sign(secret, ts, body), "User-Agent": "Steward-Webhook/1"}
            try:
                code = post(url, body, headers)
                if not 200 <= code < 300:
                    error = f"HTTP {code}"
            except Invalid as exc:  # the host now resolves to an address webhooks may not reach: not sent
                error = f"Not sent: {exc.message}"
            except Exception as exc:  # network errors are recorded, never raised
                error = f"{type(exc).__name__}: {exc}"
        counts[_finish(engine, delivery_id, code, error, now)] += 1
    return counts


SENDER = Worker("webhooks", deliver_due, lambda: settings.WEBHOOK_POLL_SECONDS)


def start_worker(engine=None) -> None:
    """A daemon thread per process: delivers due webhooks every poll interval."""
    SENDER.start(engine)
