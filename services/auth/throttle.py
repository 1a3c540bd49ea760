"""Failure throttling stored in the database (holds across workers and restarts), after OWASP's advice on
authentication: failures slow the next attempt down exponentially, and nothing is ever locked.

Each key counts the failures of one subject: an account (`login:acct:<email>`), an address (`login:ip:<ip>`), a
trusted browser (`login:device:<id>`, services/auth/devices.py), a TOTP target (`totp:user:<id>`, `totp:device:<id>`)
and a registering address (`register:ip:<ip>`). After `free` failures every further attempt must wait
2, 4, 8 … seconds after the last failure, up to `max_delay`; failures are forgotten `forget_after` the last one,
and a success clears the key. An address's wait is short (an office behind one NAT shares it), and a browser that
signed in fully before counts its failures on its own device key, so an attacker's guesses never keep the
right person with the right password and code out. Super admins see the keys that slow sign-ins down and can
clear them (`throttled`, `unlock`; Activity Logs → Throttled sign-ins).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from models import LoginThrottle, utcnow
from services.core import audit, settings
from services.core.actor import Actor
from services.core.dialect import insert_for
from services.core.errors import Conflict, NotFound
from services.core.permissions import require_super


@dataclass(frozen=True)
class Policy:
    kind: str  # what the key counts, as shown to super admins
    free: int  # failures before attempts must wait
    max_delay: int  # seconds: the longest wait after one failure
    forget_after: timedelta  # failures are forgotten this long after the last one


def policies() -> dict[str, Policy]:
    """Key prefix → policy (settings are read each time, so tests and operators can change them)."""
    day, hour = timedelta(hours=settings.THROTTLE_FORGET_HOURS), timedelta(hours=1)
    account = settings.THROTTLE_ACCOUNT_MAX_DELAY
    return {
        "login:acct:": Policy("account", settings.THROTTLE_ACCOUNT_FREE, account, day),
        "login:ip:": Policy("address", settings.THROTTLE_ADDRESS_FREE, settings.THROTTLE_ADDRESS_MAX_DELAY, hour),
        "login:device:": Policy("trusted browser", settings.THROTTLE_DEVICE_FREE, account, day),
        "totp:user:": Policy("MFA code", settings.THROTTLE_MFA_FREE, account, day),
        "totp:device:": Policy("MFA code, trusted browser", settings.THROTTLE_MFA_FREE, account, day),
        "register:ip:": Policy("registration address", settings.THROTTLE_REGISTER_FREE, account, hour),
    }


def policy_for(key: str) -> Policy:
    for prefix, policy in policies().items():
        if key.startswith(prefix):
            return policy
    raise ValueError(f"no throttle policy for key {key!r}")


def delay_after(failures: int, policy: Policy) -> int:
    """Seconds to wait after the last failure before the next attempt is heard."""
    excess = failures - policy.free
    return 0 if excess < 0 else min(policy.max_delay, 2 ** (excess + 1))


def _wait(row: LoginThrottle, now: datetime) -> int:
    """Seconds this key must still wait (0: an attempt is heard now)."""
    policy = policy_for(row.key)
    if now - row.last_failure_at > policy.forget_after:
        return 0
    next_ok = row.last_failure_at + timedelta(seconds=delay_after(row.failures, policy))
    return max(0, int((next_ok - now).total_seconds() + 0.999))


def wait_message(wait: int) -> str:
    if wait > 90:
        return f"Too many failed attempts. Try again in {-(-wait // 60)} minutes."
    return f"Too many failed attempts. Wait {wait} seconds and try again."


def check(session: Session, keys: list[str], now: datetime | None = None) -> None:
    """Raise Conflict(retry_after=…) when any key must still wait."""
    now = now or utcnow()
    for key in keys:
        row = session.get(LoginThrottle, key[:400])
        wait = 0 if row is None else _wait(row, now)
        if wait:
            raise Conflict(wait_message(wait), retry_after=wait)


def fail(session: Session, keys: list[str], now: datetime | None = None) -> None:
    """Count one failure on every key (atomic upsert; a row lock keeps concurrent failures exact)."""
    now = now or utcnow()
    for key in (k[:400] for k in keys):
        stmt = insert_for(session, LoginThrottle).values(key=key, failures=0, window_start=now, last_failure_at=now)
        session.execute(stmt.on_conflict_do_nothing())
        row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        if row is None:  # the insert above made it or found it
            raise RuntimeError(f"Throttle row {key!r} is missing.")
        if now - row.last_failure_at > policy_for(key).forget_after:
            row.failures, row.window_start = 0, now
        row.failures += 1
        row.last_failure_at = now
        session.add(row)
    session.flush()


def clear(session: Session, keys: list[str]) -> None:
    session.exec(delete(LoginThrottle).where(col(LoginThrottle.key).in_([k[:400] for k in keys])))


# ---------------------------------------------------------------------------------------- super admins
def throttled(session: Session, *, actor: Actor, now: datetime | None = None, limit: int = 200) -> list[dict]:
    """Keys that slow attempts down now or have counted failures lately (super admins), latest first."""
    require_super(actor, "see throttled sign-ins")
    now = now or utcnow()
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit <= 1000 else 200
    oldest = now - max(p.forget_after for p in policies().values())
    rows = session.exec(select(LoginThrottle).where(LoginThrottle.last_failure_at > oldest)
                        .order_by(col(LoginThrottle.last_failure_at).desc()).limit(limit)).all()
    out = []
    for row in rows:
        policy = policy_for(row.key)
        if now - row.last_failure_at > policy.forget_after:
            continue
        prefix = next(p for p in policies() if row.key.startswith(p))
        wait = _wait(row, now)
        out.append({"key": row.key, "kind": policy.kind, "subject": row.key[len(prefix):],
                    "failures": row.failures, "first_failure_at": row.window_start,
                    "last_failure_at": row.last_failure_at, "wait_seconds": wait,
                    "slowed": row.failures >= policy.free})
    return out


def unlock(session: Session, *, actor: Actor, key) -> int:
    """A super admin clears one key (its failures are forgotten at once); audited. Returns the failures it had."""
    require_super(actor, "unlock sign-ins")
    if not isinstance(key, str) or not 0 < len(key) <= 400 or not any(key.startswith(p) for p in policies()):
        raise NotFound("That throttled sign-in is no longer there.")
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        raise NotFound("That throttled sign-in is no longer there.")
    failures = row.failures
    session.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
    audit.record(session, actor, "signin.unlock", target_type="throttle", target_id=key[:64],
                 before={"key": key, "failures": failures, "last_failure_at": row.last_failure_at.isoformat()},
                 after={"failures": 0})
    return failures
