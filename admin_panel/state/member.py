"""`/me`: the signed-in user's own allocation (the full member page comes with the requests issue)."""

import reflex as rx

from models import utcnow
from services import budget
from services.errors import DomainError
from services.summary import next_month_start

from ..guard import LOGIN_ROUTE, MemberArea, current_session
from .db import in_db

REASONS = {
    "ok": "",
    "banned": "Your account is banned.",
    "not_paid": "Your account is not on a paid plan yet.",
    "no_organization": "You do not belong to an organization.",
    "monthly_cap_reached": "You have used your allocation for this month.",
    "org_pool_exhausted": "Your organization's token pool is used up.",
    "org_monthly_cap_reached": "Your organization has reached its monthly cap.",
}


def fmt_tokens(n: int) -> str:
    return f"{n:,}"


class MemberState(MemberArea, rx.State):
    """Display data only: formatted numbers of the actor's own budget."""

    name: str = ""
    email: str = ""
    is_admin: bool = False
    allocation: str = ""
    used: str = ""
    remaining: str = ""
    resets_on: str = ""
    used_percent: int = 0
    notice: str = ""
    error: str = ""
    loaded: bool = False

    @rx.event
    async def load(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)

        try:
            b = await in_db(lambda db: budget.remaining_budget(db, actor=info.actor(), user_id=info.user_id), read=True)
        except DomainError as e:
            self.error = e.message
            return None
        self.name, self.email = info.name or info.email, info.email
        self.is_admin = info.role != "member"
        self.allocation, self.used = fmt_tokens(b.cap), fmt_tokens(b.used_this_month)
        self.remaining = fmt_tokens(b.remaining if b.allowed else min(b.user_remaining, b.org_remaining))
        self.used_percent = min(100, round(100 * b.used_this_month / b.cap)) if b.cap else 0
        self.resets_on = f"{next_month_start(utcnow()):%b %-d, %Y}"
        self.notice = REASONS.get(b.reason, "")
        self.error, self.loaded = "", True
        return None
