"""Encryption at rest (TOTP secrets) and token hashing.

The key comes from STEWARD_SECRET_KEY (a Fernet key); without it a key is generated once into a local
file (the embedded default) with owner-only permissions.
"""

import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from services.core import settings


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    key = os.environ.get("STEWARD_SECRET_KEY")
    if not key:
        path = Path(settings.secret_key_file())
        if not path.exists():
            _create_key_file(path)
        key = path.read_text().strip()
    return Fernet(key.encode() if isinstance(key, str) else key)


def _create_key_file(path: Path) -> None:
    """Write a new key unless another process (several app workers start at once) got there first: the key is
    written to a private temporary file and hard-linked into place, which fails if the file exists, so every
    process ends up reading the one key that won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str | None:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def seal(text: str, now: float) -> str:
    """Authenticated, encrypted and time-stamped (Fernet): only this deployment can make or read it."""
    return _fernet().encrypt_at_time(text.encode(), int(now)).decode()


def unseal(token, *, max_age_seconds: int, now: float) -> str | None:
    """The text of a sealed token made at most `max_age_seconds` ago, else None (forged, altered or old)."""
    if not isinstance(token, str) or not 0 < len(token) <= 500:
        return None
    try:
        return _fernet().decrypt_at_time(token.encode(), max_age_seconds, int(now)).decode()
    except (InvalidToken, ValueError, TypeError):
        return None


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
