"""Request bodies: strict JSON parsing and the field checks done before any service runs."""

import json

from services.core.errors import Invalid
from services.usage.event_checks import MAX_BATCH

USAGE_FIELDS = {"idempotency_key", "user", "model", "prompt_tokens", "completion_tokens", "kind", "occurred_at",
                "ip", "reservation_id"}
USAGE_REQUIRED = ("idempotency_key", "user", "model")
AUTHORIZE_FIELDS = {"user", "model", "tokens", "kind", "reserve", "ttl_seconds"}
AUTHORIZE_REQUIRED = ("user", "model", "tokens")


class BodyErrors(Invalid):
    """Several field messages at once: [(field, message), …]."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__(errors[0][1], field=errors[0][0])
        self.errors = errors


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes):
    if not raw:
        raise BodyErrors([("body", "The request body must be a JSON document.")])
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BodyErrors([("body", "The request body is not valid JSON.")]) from None


def _name(key: str) -> str:
    """A field name as the error names it (an empty key as "")."""
    return key if key else '""'


def _check_object(obj, allowed: set[str], required: tuple[str, ...], prefix: str) -> list[tuple[str, str]]:
    if not isinstance(obj, dict):
        return [(prefix.rstrip(".") or "body", "Expected a JSON object.")]
    if obj.keys() <= allowed and all(obj.get(k) is not None and obj.get(k) != "" for k in required):
        return []  # the common case, without building messages
    errors = [(f"{prefix}{_name(k)}", "Unknown field.") for k in sorted(map(str, obj)) if k not in allowed]
    errors += [(f"{prefix}{k}", "This field is required.") for k in required if obj.get(k) in (None, "")]
    return errors


def usage_events(body) -> tuple[list, bool]:
    """The events of a `POST /usage` body ({…one event…} or {"events": […]}), and whether it was a batch."""
    if isinstance(body, dict) and "events" in body:
        extra = sorted(k for k in body if k != "events")
        if extra:
            raise BodyErrors([(_name(k), "Unknown field.") for k in extra])
        events = body["events"]
        if not isinstance(events, list):
            raise BodyErrors([("events", "Expected a list of usage events.")])
        if not events:
            raise BodyErrors([("events", "Send at least one usage event.")])

        if len(events) > MAX_BATCH:
            raise BodyErrors([("events", f"A batch holds at most {MAX_BATCH:,} events (got {len(events):,}).")])
        errors = []
        for i, ev in enumerate(events):
            errors += _check_object(ev, USAGE_FIELDS, USAGE_REQUIRED, f"events[{i}].")
        if errors:
            raise BodyErrors(errors)
        return events, True
    errors = _check_object(body, USAGE_FIELDS, USAGE_REQUIRED, "")
    if errors:
        raise BodyErrors(errors)
    return [body], False


def authorize_body(body) -> dict:
    errors = _check_object(body, AUTHORIZE_FIELDS, AUTHORIZE_REQUIRED, "")
    if errors:
        raise BodyErrors(errors)
    return body
