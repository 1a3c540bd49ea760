"""Distribute now: a preview (per user current → proposed, change, warnings; totals) and its execution in one
transaction under the org's run lock, kept in the history with every per-user change."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models import INT64_MAX, DistributionRun, UsageUserDaily, UsageUserMonthly, User, month_start, utcnow
from models.base import stored_id
from services.core import audit, validation
from services.core.actor import Actor
from services.core.errors import Conflict, Invalid, NotFound
from services.core.permissions import MANAGE, require_role, scoped_org_id
from services.tokens.allocation import CAP_FIELD, bounds_for
from services.tokens.budget import ban_active
from services.tokens.distribution import strategies
from services.tokens.distribution.lock import run_lock, set_run_id
from services.tokens.distribution.policy import STRATEGIES, effective_policy
from services.tokens.pool import pool

LABELS = {"equal": "Equal split", "usage": "Usage-based", "incremental": "Incremental"}


@dataclass
class PlanRow:
    user_id: int
    email: str
    current: int
    proposed: int
    warnings: list[str] = field(default_factory=list)

    @property
    def change(self) -> int:
        return self.proposed - self.current


@dataclass
class Plan:
    org_id: int
    kind: str
    strategy: str
    lookback_days: int
    purchased: int
    reserve: int
    distributable: int
    kept_total: int  # allocations of pinned / excluded / inactive users (left as they are)
    rows: list[PlanRow]
    pinned_count: int
    excluded_count: int
    inactive_count: int
    warnings: list[str]

    @property
    def current_total(self) -> int:
        return sum(r.current for r in self.rows)

    @property
    def proposed_total(self) -> int:
        return sum(r.proposed for r in self.rows)

    @property
    def assigned_after(self) -> int:
        return self.kept_total + self.proposed_total

    @property
    def overbooked_by(self) -> int:
        return max(0, self.assigned_after - self.purchased)

    @property
    def changed(self) -> list[PlanRow]:
        return [r for r in self.rows if r.change]

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256(f"{self.kind}|{self.strategy}|{self.lookback_days}".encode())
        for r in self.rows:
            h.update(f"{r.user_id}:{r.current}:{r.proposed};".encode())
        return h.hexdigest()[:32]

    def totals(self) -> dict:
        return {"purchased": self.purchased, "reserve": self.reserve, "distributable": self.distributable,
                "current_total": self.current_total, "proposed_total": self.proposed_total,
                "change_total": self.proposed_total - self.current_total, "kept_total": self.kept_total,
                "assigned_after": self.assigned_after, "overbooked_by": self.overbooked_by,
                "participants": len(self.rows), "changed": len(self.changed), "pinned": self.pinned_count,
                "excluded": self.excluded_count, "inactive": self.inactive_count}


def _usage(session: Session, org_id: int, kind: str, since) -> dict[int, int]:
    rows = session.exec(select(UsageUserDaily.user_id, func.sum(UsageUserDaily.billed_tokens)).where(
        UsageUserDaily.org_id == org_id, UsageUserDaily.kind == kind, UsageUserDaily.day >= since)
        .group_by(col(UsageUserDaily.user_id))).all()
    return {int(u): int(v) for u, v in rows}


def _month_usage(session: Session, org_id: int, kind: str, now: datetime) -> dict[int, int]:
    rows = session.exec(select(UsageUserMonthly.user_id, UsageUserMonthly.billed_tokens).where(
        UsageUserMonthly.org_id == org_id, UsageUserMonthly.kind == kind,
        UsageUserMonthly.month == month_start(now))).all()
    return {int(u): int(v) for u, v in rows}


def build_plan(session: Session, org_id: int, kind: str, strategy: str, *, lookback_days: int | None = None,
               now: datetime | None = None) -> Plan:
    now = now or utcnow()
    policy = effective_policy(session, org_id, kind)
    lookback = lookback_days or policy.lookback_days
    tokens, training, _expiry, _start = pool(session, org_id, now)
    purchased = tokens if kind == "tokens" else training
    reserve = purchased * policy.reserve_pct // 100
    cap_col = getattr(User, CAP_FIELD[kind])
    people = session.exec(select(User).where(User.org_id == org_id).order_by(col(User.id))).all()
    slots, emails, kept = [], {}, 0
    pinned = excluded = inactive = 0
    for u in people:
        cap = getattr(u, CAP_FIELD[kind])
        if u.pinned:
            pinned += 1
        elif u.excluded_from_automation:
            excluded += 1
        elif not u.paid or ban_active(u, now):
            inactive += 1
        else:
            b = bounds_for(u, kind, policy)
            slots.append(strategies.Slot(stored_id(u), cap, b.floor, b.ceiling))
            emails[stored_id(u)] = u.email
            continue
        kept += cap
    del cap_col
    distributable = max(0, purchased - reserve - kept)
    warnings = []
    if strategy == "usage":
        used = _usage(session, org_id, kind, (now - timedelta(days=lookback)).date())
        for s in slots:
            s.usage = used.get(s.user_id, 0)
        proposed = strategies.usage_based(slots, distributable)
        if proposed is None:
            warnings.append(f"Nobody used any tokens in the last {lookback} days: split equally instead.")
            proposed = strategies.equal(slots, distributable)
    elif strategy == "incremental":
        proposed = strategies.incremental(slots, distributable)
    else:
        proposed = strategies.equal(slots, distributable)
    floors = sum(s.floor for s in slots)
    if floors > distributable:
        warnings.append(f"The floors alone need {floors:,} tokens, {floors - distributable:,} more than the "
                        f"{distributable:,} distributable.")
    month = _month_usage(session, org_id, kind, now)
    rows = []
    for s, p in zip(slots, proposed, strict=True):
        row = PlanRow(s.user_id, emails[s.user_id], s.current, p)
        if p == s.floor and p > 0:
            row.warnings.append("at the floor")
        if s.ceiling is not None and p == s.ceiling:
            row.warnings.append("at the ceiling")
        if s.ceiling is not None and p > s.ceiling:
            row.warnings.append(f"above the ceiling of {s.ceiling:,} (kept)")
        if month.get(s.user_id, 0) > p:
            row.warnings.append(f"below this month's use of {month[s.user_id]:,}")
        rows.append(row)
    plan = Plan(org_id, kind, strategy, lookback, purchased, reserve, distributable, kept, rows, pinned, excluded,
                inactive, warnings)
    if plan.overbooked_by:
        warnings.append(f"Overbooked: {plan.overbooked_by:,} more assigned than purchased after this run.")
    return plan


def _args(session: Session, actor: Actor, kind, strategy, lookback_days) -> tuple[int, str, str, int | None]:
    require_role(actor, MANAGE, "distribute tokens")
    kind = validation.kind(kind)
    strategy = validation.choice(strategy, STRATEGIES, "strategy")
    if lookback_days is not None and (not isinstance(lookback_days, int) or isinstance(lookback_days, bool)
                                      or not 1 <= lookback_days <= 366):
        raise Invalid("Lookback must be from 1 to 366 days.", field="lookback_days")
    return scoped_org_id(session, actor), kind, strategy, lookback_days


def preview(session: Session, *, actor: Actor, kind: str, strategy: str, lookback_days: int | None = None,
            now: datetime | None = None) -> Plan:
    """What a run would do now; changes nothing."""
    org_id, kind, strategy, lookback_days = _args(session, actor, kind, strategy, lookback_days)
    return build_plan(session, org_id, kind, strategy, lookback_days=lookback_days, now=now)


def execute(session: Session, *, actor: Actor, kind: str, strategy: str, lookback_days: int | None = None,
            expected: str | None = None, now: datetime | None = None) -> DistributionRun:
    """Apply a run in the caller's transaction, holding the org's run lock. With `expected` (the preview's
    fingerprint) the run refuses to apply anything that differs from what the admin saw."""
    org_id, kind, strategy, lookback_days = _args(session, actor, kind, strategy, lookback_days)
    return _execute(session, actor, org_id, kind, strategy, lookback_days, expected, now)


def _execute(session, actor, org_id, kind, strategy, lookback_days, expected, now) -> DistributionRun:
    now = now or utcnow()
    n_users = int(session.exec(select(func.count(col(User.id))).where(User.org_id == org_id)).one())
    with run_lock(session, org_id, holder_id=actor.user_id, n_users=n_users, now=now):
        plan = build_plan(session, org_id, kind, strategy, lookback_days=lookback_days, now=now)
        if expected is not None and expected != plan.fingerprint:
            raise Conflict("Allocations changed since the preview. Preview again before distributing.")
        changed = plan.changed
        fld = CAP_FIELD[kind]
        if changed:
            session.execute(update(User), [{"id": r.user_id, fld: r.proposed} for r in changed])
        run = DistributionRun(org_id=org_id, kind=kind, strategy=strategy, actor_id=actor.user_id, status="done",
                              started_at=now, finished_at=utcnow(),
                              params={"lookback_days": plan.lookback_days, "totals": plan.totals(),
                                      "warnings": plan.warnings, "actor_email": actor.email or "system"},
                              total_before=plan.current_total, total_after=plan.proposed_total,
                              changes=[[r.user_id, r.email, r.current, r.proposed] for r in changed])
        session.add(run)
        session.flush()
        set_run_id(session, org_id, stored_id(run))
        audit.record(session, actor, "distribution.execute", org_id=org_id, target_type="distribution_run",
                     target_id=run.id, before={"kind": kind, "total": plan.current_total},
                     after={"kind": kind, "strategy": strategy, "total": plan.proposed_total,
                            "changed_users": len(changed), "overbooked_by": plan.overbooked_by})
    session.expire_all()
    return run


def list_runs(session: Session, *, actor: Actor, page: int = 1, page_size: int = 20) -> tuple[list[dict], int]:
    require_role(actor, MANAGE, "see distribution history")
    org_id = scoped_org_id(session, actor)
    page = page if isinstance(page, int) and not isinstance(page, bool) and 1 <= page <= 100_000 else 1
    page_size = page_size if page_size in (10, 20, 50) else 20
    total = int(session.exec(select(func.count(col(DistributionRun.id))).where(DistributionRun.org_id == org_id)).one())
    runs = session.exec(select(DistributionRun).where(DistributionRun.org_id == org_id)
                        .order_by(col(DistributionRun.id).desc()).offset((page - 1) * page_size).limit(page_size)).all()
    return [run_summary(r) for r in runs], total


def run_summary(r: DistributionRun) -> dict:
    return {"id": r.id, "kind": r.kind, "strategy": r.strategy, "strategy_label": LABELS.get(r.strategy, r.strategy),
            "actor": (r.params or {}).get("actor_email", ""), "started_at": r.started_at,
            "total_before": r.total_before, "total_after": r.total_after, "changed": len(r.changes or []),
            "totals": (r.params or {}).get("totals", {}), "warnings": (r.params or {}).get("warnings", [])}


def run_detail(session: Session, *, actor: Actor, run_id, page: int = 1, page_size: int = 50) -> dict:
    require_role(actor, MANAGE, "see distribution history")
    org_id = scoped_org_id(session, actor)
    ok = isinstance(run_id, int) and not isinstance(run_id, bool) and 0 < run_id <= INT64_MAX
    run = session.get(DistributionRun, run_id) if ok else None
    if run is None or run.org_id != org_id:
        raise NotFound("Distribution run not found.")
    page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1
    changes = run.changes or []
    part = changes[(page - 1) * page_size: page * page_size]
    return {**run_summary(run), "page": page, "pages": max(1, -(-len(changes) // page_size)),
            "changes": [{"user_id": c[0], "email": c[1], "before": c[2], "after": c[3], "change": c[3] - c[2]}
                        for c in part]}
