"""Small read-only shapes that services return and the UI shows (no table rows with secrets)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Result(Generic[T]):
    """A service outcome with warnings a person should see (clamped values, overbooking …)."""

    value: T
    warnings: list[str] = field(default_factory=list)


@dataclass
class KindSummary:
    kind: str
    purchased: int
    assigned: int
    used_this_month: int
    pool_used: int  # usage since the earliest unexpired purchase began

    @property
    def unassigned(self) -> int:
        return self.purchased - self.assigned

    @property
    def overbooked_by(self) -> int:
        return max(0, self.assigned - self.purchased)

    @property
    def pool_remaining(self) -> int:
        return max(0, self.purchased - self.pool_used)


@dataclass
class OrgSummary:
    org_id: int
    users: int
    tokens: KindSummary
    training: KindSummary
    closest_expiry: datetime | None

    def kind(self, kind: str) -> KindSummary:
        return self.tokens if kind == "tokens" else self.training

    @property
    def warnings(self) -> list[str]:
        out = []
        for ks, label in ((self.tokens, "tokens"), (self.training, "training tokens")):
            if ks.overbooked_by:
                out.append(f"Overbooked: {ks.overbooked_by:,} more {label} assigned than purchased.")
        return out


@dataclass
class Budget:
    """May this user spend now, and how much is left."""

    allowed: bool
    reason: str  # ok | banned | not_paid | monthly_cap_reached | org_pool_exhausted | org_monthly_cap_reached
    user_remaining: int
    org_remaining: int
    remaining: int
    cap: int
    used_this_month: int
    held: int = 0  # tokens held by the user's open reservations (already subtracted from what is left)

    @property
    def left(self) -> int:
        """What is left to spend whether or not the user may spend now (the member page shows it)."""
        return min(self.user_remaining, self.org_remaining)
