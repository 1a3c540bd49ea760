"""Argument checks with readable messages. Services call these on every value they receive."""

import re
from datetime import date, datetime

from models import INT64_MAX, KINDS
from services.core.errors import Invalid

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def json_int(value):
    """A JSON whole number as an int (5 and 5.0 are the same JSON integer); anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def token_amount(value, field: str = "amount", *, allow_zero: bool = True) -> int:
    """A whole, non-negative token count within the 64-bit range. Accepts ints and digit strings."""
    label = field.replace("_", " ")
    if isinstance(value, bool) or value is None:
        raise Invalid(f"{label.capitalize()} must be a whole number of tokens.", field=field)
    if isinstance(value, float):
        if not value.is_integer():
            raise Invalid(f"{label.capitalize()} must be a whole number of tokens.", field=field)
        value = int(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        if text.startswith("-") and text[1:].isdigit():
            raise Invalid(f"{label.capitalize()} cannot be negative.", field=field)
        if not text.isdigit() or not text.isascii():
            raise Invalid(f"{label.capitalize()} must be a whole number of tokens.", field=field)
        if len(text) > 19:
            raise Invalid(f"{label.capitalize()} is too large.", field=field)
        value = int(text)
    elif not isinstance(value, int):
        raise Invalid(f"{label.capitalize()} must be a whole number of tokens.", field=field)
    if value < 0:
        raise Invalid(f"{label.capitalize()} cannot be negative.", field=field)
    if value > INT64_MAX:
        raise Invalid(f"{label.capitalize()} is too large.", field=field)
    if value == 0 and not allow_zero:
        raise Invalid(f"{label.capitalize()} must be greater than zero.", field=field)
    return value


def email(value, field: str = "email") -> str:
    if not isinstance(value, str):
        raise Invalid("Enter an email address.", field=field)
    text = value.strip().lower()
    if not text:
        raise Invalid("Enter an email address.", field=field)
    if len(text) > 320 or not _EMAIL.match(text) or ".." in text.split("@")[0]:
        raise Invalid(f"'{value.strip()[:80]}' is not a valid email address.", field=field)
    return text


def text(value, field: str, *, max_len: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{field.replace('_', ' ').capitalize()} must be text.", field=field)
    value = value.strip()
    if required and not value:
        raise Invalid(f"{field.replace('_', ' ').capitalize()} is required.", field=field)
    if len(value) > max_len:
        raise Invalid(f"{field.replace('_', ' ').capitalize()} is longer than {max_len} characters.", field=field)
    return value


def kind(value, field: str = "kind") -> str:
    if value not in KINDS:
        raise Invalid("Kind must be 'tokens' or 'training'.", field=field)
    return value


def choice(value, options, field: str) -> str:
    if value not in options:
        raise Invalid(f"{field.replace('_', ' ').capitalize()} must be one of: {', '.join(options)}.", field=field)
    return value


def flag(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{field.replace('_', ' ').capitalize()} must be on or off.", field=field)
    return value


def optional_id(value, field: str) -> int | None:
    """An id from a filter or form: None for nothing or "all", else a positive int (digits in a string count)."""
    if value in (None, "", "all"):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise Invalid(f"Unknown {field}.", field=field)
    return value


def optional_day(value, field: str) -> date | None:
    """Like `day`, with None for nothing."""
    return None if value in (None, "") else day(value, field)


def day(value, field: str) -> date:
    """A calendar day: a date, a datetime (its date) or an ISO string (its first ten characters)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise Invalid(f"{field.capitalize()} date must look like 2026-01-31.", field=field)
