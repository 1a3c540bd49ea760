"""One idempotency key, one event: a retried key is a duplicate only if it carries the event the ledger holds.

An event is compared as recorded: org and user (a user named by email or id is the same user), model, kind,
prompt and completion tokens — always, with their defaults — and occurred_at and ip only when the retry
sends them (an omitted occurred_at means "now", which a retry can't repeat). A key reused for a different
event is a Conflict (409) naming the key and what differs; the request it came in records nothing.
"""

from datetime import UTC, datetime

from services.core.errors import Conflict
from services.usage.event_checks import EventError

# The ledger row of a key as `usage.existing` reads it: (event id, billed tokens, user id, kind, org id,
# model id, prompt tokens, completion tokens, occurred_at, ip).
_ALWAYS = (("user", (2, 4)), ("model", (5,)), ("kind", (3,)), ("prompt_tokens", (6,)), ("completion_tokens", (7,)))


def as_recorded(p) -> tuple:
    """A resolved Pending event as its ledger row would read (no event id yet)."""
    return (None, p.billed_tokens, p.user_id, p.kind, p.org_id, p.model_id, p.prompt_tokens, p.completion_tokens,
            p.occurred_at, p.ip)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)  # SQLite: naive UTC


def differences(p, row: tuple) -> list[str]:
    """The fields in which the resolved Pending event `p` differs from the recorded `row` (empty: the same event)."""
    mine = as_recorded(p)
    out = [name for name, cols in _ALWAYS if any(mine[c] != row[c] for c in cols)]
    if p.time_given and _utc(p.occurred_at) != _utc(row[8]):
        out.append("occurred_at")
    if p.ip_given and p.ip != row[9]:
        out.append("ip")
    return out


def conflict(p, fields: list[str]) -> EventError:
    """The per-event error (index, field, message, class) of `event_checks.event_errors` for a reused key."""
    what = ", ".join(fields) + (" differs" if len(fields) == 1 else " differ")
    return (p.index, "idempotency_key",
            f"idempotency_key {p.idempotency_key!r} was already used for a different event ({what}); "
            "send a new key for a new event.", Conflict)


def conflicts(pending, recorded: dict[str, tuple]) -> list[EventError]:
    """The errors of the events whose key `recorded` ({key: ledger row}) holds with a different event."""
    out = []
    for p in pending:
        row = recorded.get(p.idempotency_key)
        if row is not None and (diff := differences(p, row)):
            out.append(conflict(p, diff))
    return out
