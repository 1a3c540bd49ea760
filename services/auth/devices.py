"""Trusted browsers (OWASP's "device cookies"): a browser that completed a sign-in (password, and the MFA code for
the admin roles) keeps a sealed token `<user id>:<device id>` in its storage for DEVICE_TRUST_DAYS. When it signs
in to that account again, its failures count on its own key (`login:device:<id>`, `totp:device:<id>`) instead of
the account's and the address's, so guesses by anyone else never slow the right person down. The token proves
nothing by itself: the password (and code) are still checked every time.
"""

import secrets
from datetime import datetime

from services.core import settings
from services.core.crypto import seal, unseal


def issue(user_id: int, device_id: str | None, now: datetime) -> str:
    """A new token for this browser (the same device id when it had one), valid from now."""
    return seal(f"{user_id}:{device_id or secrets.token_hex(12)}", now.timestamp())


def device_of(token, user_id: int | None, now: datetime) -> str | None:
    """The device id of a valid, unexpired token made for this user, else None."""
    if user_id is None:
        return None
    text = unseal(token, max_age_seconds=settings.DEVICE_TRUST_DAYS * 86_400, now=now.timestamp())
    owner, _, device_id = (text or "").partition(":")
    return device_id if owner == str(user_id) and 0 < len(device_id) <= 32 else None
