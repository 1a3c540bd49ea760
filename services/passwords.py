"""Password hashing with argon2id."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.errors import Invalid

_ph = PasswordHasher()

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
