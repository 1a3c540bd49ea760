"""Activity Logs: the usage log (raw ledger), sign-ins and the audit trail, with keyset pagination.

`log_page` reads one page of one log. The logs live in usage_log.py, signin_log.py and audit_log.py, their
filters, page and scope rules in logs_filter.py, the pagination they share in keyset.py. Pages are newest first
and read by keyset (never OFFSET), so page 1 and page 10,000 cost the same. Org admins see their own org; super
admins the chosen org, or every org when none is chosen (actor.org_id None). Finance and members are refused.
"""

from __future__ import annotations

from sqlmodel import Session

from services.analytics.audit_log import audit_trail
from services.analytics.logs_filter import LogFilter, LogPage
from services.analytics.signin_log import sign_ins
from services.analytics.usage_log import usage_log
from services.core.actor import Actor
from services.core.errors import Invalid


def log_page(db: Session, *, actor: Actor, tab: str, flt: LogFilter, cursor=None, direction="next",
             limit=50) -> LogPage:
    fn = {"usage": usage_log, "signins": sign_ins, "audit": audit_trail}.get(tab) if isinstance(tab, str) else None
    if fn is None:
        raise Invalid("Unknown log.", field="tab")
    return fn(db, actor=actor, flt=flt, cursor=cursor, direction=direction, limit=limit)
