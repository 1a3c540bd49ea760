"""Activity Logs: the filters of the three logs, the page they return and who may read them.

Org admins see their own org; super admins the chosen org, or every org when none is chosen (actor.org_id None).
Finance and members are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session

from models import KINDS
from services.core import validation
from services.core.actor import Actor
from services.core.errors import Invalid
from services.core.permissions import MANAGE, require_role, scoped_org_id, user_in_scope

UTC = UTC
PAGE_SIZES = (25, 50, 100)  # what the page offers
MAX_TEXT = 100
TABS = ("usage", "signins", "audit")


@dataclass(frozen=True)
class LogFilter:
    user_id: int | None = None
    action: str | None = None  # audit: exact action name
    model_id: int | None = None
    kind: str | None = None
    start: date | None = None
    end: date | None = None  # inclusive
    text: str = ""  # audit: words that must all appear (actor, action, target, values)
    outcome: str | None = None  # sign-ins: "success" | "failure"

    def time_bounds(self):
        lo = datetime.combine(self.start, time.min, tzinfo=UTC) if self.start else None
        hi = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC) if self.end else None
        return lo, hi

    def in_range(self, q, column):
        """`q` limited to the filter's days (UTC, both ends included) on `column`."""
        lo, hi = self.time_bounds()
        if lo:
            q = q.where(column >= lo)
        if hi:
            q = q.where(column < hi)
        return q


@dataclass
class LogPage:
    rows: list[dict]
    next_cursor: str | None  # None: this is the last page
    prev_cursor: str | None  # None: this is the first page
    columns: list[str] = field(default_factory=list)
    note: str = ""  # free-text search: how far this page searched


def log_scope(db: Session, actor: Actor) -> int | None:
    """The org whose logs the actor reads (None: every org, super admins only)."""
    require_role(actor, MANAGE, "read the activity logs")
    if actor.is_super and actor.org_id is None:
        return None
    return scoped_org_id(db, actor)


def make_filter(db: Session, actor: Actor, **raw) -> LogFilter:
    """Validate filters from the page (any JSON may arrive); a user outside the actor's scope is NotFound."""
    unknown = set(raw) - {"user_id", "action", "model_id", "kind", "start", "end", "text", "outcome"}
    if unknown:
        raise Invalid(f"Unknown filter: {sorted(unknown)[0]}.")
    uid = validation.optional_id(raw.get("user_id"), "user")
    if uid is not None:
        user_in_scope(db, actor, uid)
    kind = raw.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise Invalid("Kind must be 'tokens' or 'training'.", field="kind")
    action = raw.get("action") or None
    if action is not None and (not isinstance(action, str) or len(action) > 60):
        raise Invalid("Unknown action.", field="action")
    text = raw.get("text") or ""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise Invalid(f"Search text must be at most {MAX_TEXT} characters.", field="text")
    outcome = raw.get("outcome") or None
    if outcome not in (None, "success", "failure"):
        raise Invalid("Outcome must be success or failure.", field="outcome")
    start, end = validation.optional_day(raw.get("start"), "start"), validation.optional_day(raw.get("end"), "end")
    if start and end and end < start:
        raise Invalid("The range ends before it starts.", field="end")
    model_id = validation.optional_id(raw.get("model_id"), "model")
    return LogFilter(uid, action.strip() if action else None, model_id, kind, start, end, text.strip(), outcome)


def fmt_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
