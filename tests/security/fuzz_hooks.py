"""Schemathesis hooks of tests/security/test_api_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

One rule of the API can't be written in JSON Schema: `occurred_at` must lie within [now − 400 days,
now + 5 minutes] (the OpenAPI document says so in words; outside it the API answers 422). Schema-valid
(positive) cases get a time inside that window instead of an arbitrary date-time, so the
positive_data_acceptance check still applies to everything else in the body. Negative cases are untouched.
"""

from datetime import UTC, datetime, timedelta

import schemathesis

from services.usage.event_checks import FUTURE_SKEW, MAX_AGE


def _inside(value, now: datetime):
    if not isinstance(value, str):
        return value
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except (ValueError, OverflowError):
        return value
    if now - MAX_AGE + timedelta(minutes=1) <= t <= now + FUTURE_SKEW - timedelta(minutes=1):
        return value
    return (now - timedelta(days=1)).isoformat()


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    now = datetime.now(UTC)
    events = case.body.get("events") if "events" in case.body else [case.body]
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and "occurred_at" in event:
            event["occurred_at"] = _inside(event["occurred_at"], now)
    return case
