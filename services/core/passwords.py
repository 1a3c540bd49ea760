"""Password hashing with argon2id."""

import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.core.errors import Invalid

# STEWARD_FAST_PASSWORD_HASH=1 (set by the test suite only) uses cheap argon2 parameters: the default ones take
# ~0.4 s per hash on a small machine, which would dominate the tests. Never set it in production.
_ph = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) \
    if os.environ.get("STEWARD_FAST_PASSWORD_HASH") == "1" else PasswordHasher()

MIN_LENGTH = 8
MAX_LENGTH = 256


def check_strength(password) -> str:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise Invalid(f"The password must have at least {MIN_LENGTH} characters.", field="password")
    if len(password) > MAX_LENGTH:
        raise Invalid(f"The password must have at most {MAX_LENGTH} characters.", field="password")
    return password


def hash_password(password: str) -> str:
    return _ph.hash(check_strength(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash or not isinstance(password, str):
        return False
    try:
        return _ph.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
