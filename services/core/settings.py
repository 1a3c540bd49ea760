"""Settings read from the environment. No reflex import: rxconfig.py imports this module too."""

import os
from urllib.parse import urlsplit

DEFAULT_DB_URL = "sqlite:///steward.db"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _origins(name: str) -> tuple[str, ...]:
    """A comma-separated list of browser origins (`https://tools.example.com`, no path), lower-cased."""
    out = []
    for raw in os.environ.get(name, "").split(","):
        entry = raw.strip().rstrip("/").lower()
        if not entry:
            continue
        parts = urlsplit(entry)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ValueError(f"{name}: {raw.strip()!r} is not an origin like https://tools.example.com "
                             "('*' is not allowed).")
        out.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(dict.fromkeys(out))


def db_url() -> str:
    """The database URL: REFLEX_DB_URL, else a SQLite file in the working directory."""
    return os.environ.get("REFLEX_DB_URL") or DEFAULT_DB_URL


def redis_url() -> str | None:
    return os.environ.get("REFLEX_REDIS_URL") or None


# Enterprise rules from the Ask Sage seeds (the older docs said 4 users / 500K tokens: these are settings).
MIN_USERS = _int("STEWARD_MIN_USERS", 2)
MIN_ADMINS = _int("STEWARD_MIN_ADMINS", 1)
MIN_TOKENS_PER_USER = _int("STEWARD_MIN_TOKENS_PER_USER", 200_000)
PURCHASE_MULTIPLE = _int("STEWARD_PURCHASE_MULTIPLE", 2_000_000)
DEFAULT_ALLOCATION = _int("STEWARD_DEFAULT_ALLOCATION", 200_000)
DEFAULT_TRAIN_ALLOCATION = _int("STEWARD_DEFAULT_TRAIN_ALLOCATION", 0)

# Enterprise onboarding (docs/onboarding.md).
ONBOARDING_MAX_EMAILS = _int("STEWARD_ONBOARDING_MAX_EMAILS", 500)  # e-mails per list in one request
ONBOARDING_OPEN_PER_USER = _int("STEWARD_ONBOARDING_OPEN_PER_USER", 3)  # open requests per requester
INVITE_DAYS = _int("STEWARD_INVITE_DAYS", 7)  # registration invitation link lifetime
PURCHASE_VALID_DAYS = _int("STEWARD_PURCHASE_VALID_DAYS", 365)  # expiry of the purchase recorded on activation

# Sessions and sign-in throttling (docs/configuration.md, Limits).
SESSION_IDLE_MINUTES = _int("STEWARD_SESSION_IDLE_MINUTES", 30)
SESSION_ABSOLUTE_HOURS = _int("STEWARD_SESSION_ABSOLUTE_HOURS", 12)
STEP_UP_MINUTES = _int("STEWARD_STEP_UP_MINUTES", 10)
# Failure throttling (services/auth/throttle.py): after N free failures each attempt waits 2, 4, 8 … s, up to a cap.
THROTTLE_ACCOUNT_FREE = _int("STEWARD_THROTTLE_ACCOUNT_FREE", 5)  # wrong passwords per account
THROTTLE_ACCOUNT_MAX_DELAY = _int("STEWARD_THROTTLE_ACCOUNT_MAX_DELAY", 900)  # s (accounts, devices, MFA, sign-up)
THROTTLE_ADDRESS_FREE = _int("STEWARD_THROTTLE_ADDRESS_FREE", 20)  # failures per address (an office shares one)
THROTTLE_ADDRESS_MAX_DELAY = _int("STEWARD_THROTTLE_ADDRESS_MAX_DELAY", 60)  # s: an address is slowed, never shut
THROTTLE_DEVICE_FREE = _int("STEWARD_THROTTLE_DEVICE_FREE", 10)  # failures per trusted browser
THROTTLE_MFA_FREE = _int("STEWARD_THROTTLE_MFA_FREE", 5)  # wrong codes per user (or per trusted browser)
THROTTLE_REGISTER_FREE = _int("STEWARD_THROTTLE_REGISTER_FREE", 5)  # registrations per address and hour
THROTTLE_FORGET_HOURS = _int("STEWARD_THROTTLE_FORGET_HOURS", 24)  # failures forgotten after (addresses: 1 h)
REGISTER_ANSWER_MS = _int("STEWARD_REGISTER_ANSWER_MS", 400)  # /register answers no sooner (hides account existence)
DEVICE_TRUST_DAYS = _int("STEWARD_DEVICE_TRUST_DAYS", 90)  # a browser that signed in fully stays trusted this long
RESET_LINK_MINUTES = _int("STEWARD_RESET_LINK_MINUTES", 60)


def secret_key_file() -> str:
    """Where the embedded default keeps its generated encryption key (STEWARD_SECRET_KEY overrides it)."""
    return os.environ.get("STEWARD_SECRET_KEY_FILE") or os.path.join(".steward", "secret.key")


def smtp() -> dict | None:
    """SMTP settings from the environment; None when STEWARD_SMTP_HOST is not set (mail goes to the log)."""
    host = os.environ.get("STEWARD_SMTP_HOST")
    if not host:
        return None
    return {
        "host": host,
        "port": _int("STEWARD_SMTP_PORT", 587),
        "user": os.environ.get("STEWARD_SMTP_USER") or None,
        "password": os.environ.get("STEWARD_SMTP_PASSWORD") or None,
        "sender": os.environ.get("STEWARD_SMTP_FROM", "steward@localhost"),
        "starttls": os.environ.get("STEWARD_SMTP_STARTTLS", "1") not in ("0", "false", "no"),
    }


def public_url() -> str:
    """The address people open, used in links sent by email."""
    return os.environ.get("STEWARD_PUBLIC_URL", "http://localhost:3000").rstrip("/")

# Token requests and distribution (docs/token-requests.md).
REQUEST_DENIAL_COOLDOWN_HOURS = _int("STEWARD_REQUEST_DENIAL_COOLDOWN_HOURS", 24)
REQUEST_MAX_TOKENS = _int("STEWARD_REQUEST_MAX_TOKENS", 1_000_000_000_000)  # one request asks for at most this
AUTO_APPROVE_SUSPEND_PCT = _int("STEWARD_AUTO_APPROVE_SUSPEND_PCT", 90)  # pool use that suspends auto-approval
STEP_UP_GRANT_TOKENS = _int("STEWARD_STEP_UP_GRANT_TOKENS", 1_000_000)  # larger grants need a fresh MFA code
JOBS_INTERVAL_SECONDS = _int("STEWARD_JOBS_INTERVAL_SECONDS", 300)  # the in-app scheduler's period (0 = off)

# Gateway API (docs/gateway-api.md): per-key request rate, reservations, request size, webhooks.
GATEWAY_RATE_LIMIT = _int("STEWARD_GATEWAY_RATE_LIMIT", 6000)  # requests per key per window
GATEWAY_RATE_WINDOW_SECONDS = _int("STEWARD_GATEWAY_RATE_WINDOW_SECONDS", 60)
GATEWAY_RATE_BACKEND = os.environ.get("STEWARD_GATEWAY_RATE_BACKEND", "auto")  # auto | db | redis
RESERVATION_TTL_SECONDS = _int("STEWARD_RESERVATION_TTL_SECONDS", 300)  # default hold of POST /authorize
RESERVATION_MAX_TTL_SECONDS = _int("STEWARD_RESERVATION_MAX_TTL_SECONDS", 3600)
GATEWAY_MAX_BODY_BYTES = _int("STEWARD_GATEWAY_MAX_BODY_BYTES", 2_000_000)
GATEWAY_KEY_CACHE_SECONDS = _int("STEWARD_GATEWAY_KEY_CACHE_SECONDS", 5)  # a revoked key works ≤ this long elsewhere
GATEWAY_GROUP_WAIT_MS = _int("STEWARD_GATEWAY_GROUP_WAIT_MS", 0)  # group commit: wait this long for more requests
GATEWAY_GROUP_MAX_EVENTS = _int("STEWARD_GATEWAY_GROUP_MAX_EVENTS", 5000)  # events per group transaction
WEBHOOK_TIMEOUT_SECONDS = _int("STEWARD_WEBHOOK_TIMEOUT_SECONDS", 5)
WEBHOOK_MAX_ATTEMPTS = _int("STEWARD_WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_BACKOFF_SECONDS = _int("STEWARD_WEBHOOK_BACKOFF_SECONDS", 30)  # 30 s, 60 s, 120 s … between attempts
WEBHOOK_POLL_SECONDS = _int("STEWARD_WEBHOOK_POLL_SECONDS", 10)
# Mail outbox (services/core/mailer.py): sent after the commit; retried with backoff, then kept as failed.
MAIL_MAX_ATTEMPTS = _int("STEWARD_MAIL_MAX_ATTEMPTS", 6)
MAIL_BACKOFF_SECONDS = _int("STEWARD_MAIL_BACKOFF_SECONDS", 30)  # 30 s, 60 s, 120 s … between attempts
MAIL_POLL_SECONDS = _int("STEWARD_MAIL_POLL_SECONDS", 10)  # also woken at once after a commit that queued mail
# Where webhooks may go (services/core/outbound_url.py): https only and public addresses only, unless these say so.
WEBHOOK_ALLOW_HTTP = os.environ.get("STEWARD_WEBHOOK_ALLOW_HTTP", "0") in ("1", "true", "yes")
WEBHOOK_ALLOWED_HOSTS = os.environ.get("STEWARD_WEBHOOK_ALLOWED_HOSTS", "")  # internal hosts allowed, comma-separated

# HTTP security headers and CORS (docs/security.md; admin_panel/runtime/security_headers.py).
# Browser origins that may call /api/v1 and /downloads from their own pages (CORS, without credentials): none by
# default. The admin panel itself is same-origin and needs no entry.
API_CORS_ORIGINS = _origins("STEWARD_API_CORS_ORIGINS")
# Strict-Transport-Security max-age (one year; 0: none). Sent over HTTPS only: the server's own scheme, or
# X-Forwarded-Proto when Reflex's `trusted_proxy_hops` (REFLEX_TRUSTED_PROXY_HOPS) says proxies are in front.
HSTS_MAX_AGE_SECONDS = _int("STEWARD_HSTS_MAX_AGE_SECONDS", 31_536_000)
