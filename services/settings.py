"""Settings read from the environment. No reflex import: rxconfig.py imports this module too."""

import os

DEFAULT_DB_URL = "sqlite:///steward.db"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


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
