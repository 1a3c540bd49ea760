"""The automatic jobs: timed bans and temporary grants expiring, reclamation, monthly reset, scheduled
distribution, auto-increase. `run_due_jobs` runs whatever is due at `now`; running it again for the same
period changes nothing (each org/kind/period is claimed once in `job_mark` with a conditional UPDATE).

A job that would change allocations in an org while a distribution run holds its lock skips that org without
claiming the period, so the next run picks it up.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import String, cast, exists, literal, update
from sqlmodel import Session, col, select

from models import DistributionPolicy, JobMark, RequestStatus, TokenRequest, UsageUserMonthly, User, month_start, utcnow
from services.core import audit
from services.core.actor import system_actor
from services.core.dialect import insert_for
from services.core.errors import Conflict, NotFound
from services.tokens import requests
from services.tokens.allocation import CAP_FIELD, bounds_for
from services.tokens.budget import ban_active
from services.tokens.distribution import runs
from services.tokens.distribution.lock import ensure_unlocked
from services.tokens.distribution.presets import NEAR_CEILING_PCT, TIERS
from services.tokens.pool import compute_summary

JOBS = ("ban_expiry", "grant_expiry", "reclamation", "monthly_reset", "scheduled_distribution", "auto_increase")


@dataclass
class JobReport:
    changed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(JOBS, 0))
    skipped_locked: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{j}: {n}" for j, n in self.changed.items()]
        if self.skipped_locked:
            parts.append(f"skipped (distribution running): {', '.join(self.skipped_locked)}")
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------ job marks
def _ensure_mark(session: Session, job: str, scope: str) -> None:
    session.execute(insert_for(session, JobMark).values(job=job, scope=scope, period="", last_run_at=None)
                    .on_conflict_do_nothing(index_elements=["job", "scope"]))


def claim_period(session: Session, job: str, scope: str, period: str, now: datetime, *, first_day: bool) -> bool:
    """True exactly once per (job, scope, period). A scope never run before starts only on its period's first
    day (turning a monthly job on mid-month does not fire it at once)."""
    mark = session.get(JobMark, (job, scope))
    if mark is None:
        if not first_day:
            return False
        _ensure_mark(session, job, scope)
    got = session.exec(update(JobMark).where(col(JobMark.job) == job, col(JobMark.scope) == scope,
                                             col(JobMark.period) != period)
                       .values(period=period, last_run_at=now)).rowcount
    session.expire_all()
    return got == 1


def claim_cooldown(session: Session, job: str, scope: str, now: datetime, minutes: int) -> bool:
    """True if the scope last acted at least `minutes` ago (or never), and marks it as acting now."""
    _ensure_mark(session, job, scope)
    since = now - timedelta(minutes=minutes)
    got = session.exec(update(JobMark).where(
        col(JobMark.job) == job, col(JobMark.scope) == scope,
        (col(JobMark.last_run_at).is_(None)) | (col(JobMark.last_run_at) <= since)).values(last_run_at=now)).rowcount
    return got == 1


def month_key(now: datetime) -> str:
    return f"{now:%Y-%m}"


def week_key(now: datetime) -> str:
    y, w, _ = now.isocalendar()
    return f"{y}-W{w:02d}"


def _participants(session: Session, org_id: int, now: datetime) -> list[User]:
    people = session.exec(select(User).where(col(User.org_id) == org_id, col(User.pinned).is_(False),
                                             col(User.excluded_from_automation).is_(False)).order_by(col(User.id))).all()
    return [u for u in people if u.paid and not ban_active(u, now)]


def _month_usage(session: Session, org_id: int, kind: str, month: date) -> dict[int, int]:
    return {int(u): int(v) for u, v in session.exec(select(UsageUserMonthly.user_id, UsageUserMonthly.billed_tokens)
                                                    .where(UsageUserMonthly.org_id == org_id,
                                                           UsageUserMonthly.kind == kind,
                                                           UsageUserMonthly.month == month)).all()}


def _apply(session: Session, org_id: int, kind: str, action: str, changes: list[tuple[User, int]], extra: dict) -> int:
    fld = CAP_FIELD[kind]
    changes = [(u, new) for u, new in changes if getattr(u, fld) != new]
    if changes:
        session.execute(update(User), [{"id": u.id, fld: new} for u, new in changes])
    audit.record(session, system_actor(org_id), action, org_id=org_id, target_type="organization", target_id=org_id,
                 after={"kind": kind, **extra, "changed_users": len(changes),
                        "changes": [[u.id, getattr(u, fld), new] for u, new in changes]})
    session.expire_all()
    return len(changes)


def _locked(session: Session, org_id: int, now: datetime) -> bool:
    try:
        ensure_unlocked(session, org_id, now)
    except Conflict:
        return True
    return False


def _policies(session: Session, *conds) -> list[DistributionPolicy]:
    return list(session.exec(select(DistributionPolicy).where(*conds).order_by(col(DistributionPolicy.org_id),
                                                                                col(DistributionPolicy.kind))).all())


# ----------------------------------------------------------------------------------------------- jobs
def expire_bans(session: Session, now: datetime) -> int:
    """Timed bans whose end passed are lifted (conditional UPDATE: concurrent schedulers lift each once)."""
    due = session.exec(select(User).where(col(User.banned).is_(True), col(User.banned_until).is_not(None),
                                          col(User.banned_until) <= now)).all()
    n = 0
    for u in due:
        before = {"banned": True, "ban_reason": u.ban_reason, "banned_until": u.banned_until}
        got = session.exec(update(User).where(col(User.id) == u.id, col(User.banned).is_(True),
                                              col(User.banned_until) <= now)
                           .values(banned=False, ban_reason="", banned_until=None)
                           .execution_options(synchronize_session=False)).rowcount
        if got != 1:
            continue
        audit.record(session, system_actor(u.org_id), "user.ban_expired", org_id=u.org_id, target_type="user",
                     target_id=u.id, before=before, after={"banned": False})
        n += 1
    session.expire_all()
    return n


def expire_grants(session: Session, now: datetime, report: JobReport) -> int:
    handled = exists().where(col(JobMark.job) == "grant_expiry",
                             col(JobMark.scope) == literal("request:", String) + cast(col(TokenRequest.id), String))
    due = session.exec(select(TokenRequest).where(
        col(TokenRequest.status) == RequestStatus.approved.value, col(TokenRequest.grant_expires_at).is_not(None),
        col(TokenRequest.grant_expires_at) <= now, ~handled).order_by(col(TokenRequest.id))).all()
    n = 0
    for r in due:
        if _locked(session, r.org_id, now):
            report.skipped_locked.append(f"grant {r.id}")
            continue
        if not claim_period(session, "grant_expiry", f"request:{r.id}", "expired", now, first_day=True):
            continue
        user = session.get(User, r.user_id)
        if user is None:  # token_request.user_id is a foreign key
            raise NotFound(f"User {r.user_id} not found.")
        fld = CAP_FIELD[r.kind]
        before = getattr(user, fld)
        if user.pinned:
            after = before  # pinned allocations are never changed automatically
        else:
            floor = bounds_for(user, r.kind, runs.effective_policy(session, r.org_id, r.kind)).floor
            after = max(floor, before - (r.approved_amount or 0))
            setattr(user, fld, after)
            session.add(user)
        audit.record(session, system_actor(r.org_id), "grant.expire", org_id=r.org_id, target_type="token_request",
                     target_id=r.id, before={fld: before}, after={fld: after, "pinned": user.pinned,
                                                                  "granted": r.approved_amount})
        n += 1
    session.flush()
    return n


def reclaim(session: Session, p: DistributionPolicy, now: datetime) -> int:
    """Take back unused tokens: allocation → max(floor, used this month, peak use × (1 + buffer %)), never up."""
    users = _participants(session, p.org_id, now)
    this = _month_usage(session, p.org_id, p.kind, month_start(now))
    prev = _month_usage(session, p.org_id, p.kind, month_start(month_start(now) - timedelta(days=1)))
    fld = CAP_FIELD[p.kind]
    changes = []
    for u in users:
        if u.id is None:  # only stored users take part
            continue
        basis = max(this.get(u.id, 0), prev.get(u.id, 0))
        keep = basis + basis * p.reclaim_buffer_pct // 100
        cap = getattr(u, fld)
        new = min(cap, max(bounds_for(u, p.kind, p).floor, keep, this.get(u.id, 0)))
        changes.append((u, new))
    return _apply(session, p.org_id, p.kind, "job.reclamation", changes, {"buffer_pct": p.reclaim_buffer_pct})


def monthly_reset(session: Session, p: DistributionPolicy, now: datetime) -> int:
    """Allocations return to the policy baseline (the user's floor) on the 1st."""
    users = _participants(session, p.org_id, now)
    return _apply(session, p.org_id, p.kind, "job.monthly_reset",
                  [(u, bounds_for(u, p.kind, p).floor) for u in users], {"month": month_key(now)})


def _increase(p: DistributionPolicy, cap: int, ceiling: int | None, used: int, available: int) -> int:
    if p.increase_method == "flat":
        return p.increase_amount
    if p.increase_method == "percent_current":
        pct = p.increase_amount
        if p.near_ceiling_bump_pct and ceiling is not None and cap * 100 >= NEAR_CEILING_PCT * ceiling:
            pct = p.near_ceiling_bump_pct
        return cap * pct // 100
    headroom = (ceiling - cap) if ceiling is not None else max(0, available)
    factor = 1
    if p.increase_method == "tiered":
        factor = next((f for tier, f in TIERS if used * 1000 >= round(tier * 10) * cap), 1)
    return max(0, headroom) * p.increase_amount * factor // 100


def auto_increase(session: Session, p: DistributionPolicy, now: datetime) -> tuple[int, int]:
    """Raise allocations of users past the trigger (respecting cooldown, ceiling and the pool less the reserve);
    when the ceiling or the pool stops an increase, raise a token request instead. Returns (raised, requests)."""
    ks = compute_summary(session, p.org_id, now).kind(p.kind)
    available = ks.purchased - ks.purchased * p.reserve_pct // 100 - ks.assigned
    used_map = _month_usage(session, p.org_id, p.kind, month_start(now))
    fld = CAP_FIELD[p.kind]
    trigger = round(p.trigger_pct * 10)  # per mille
    changes, asked = [], 0
    for u in _participants(session, p.org_id, now):
        if u.id is None:  # only stored users take part
            continue
        cap, used = getattr(u, fld), used_map.get(u.id, 0)
        if cap <= 0 or used * 1000 < trigger * cap:
            continue
        if not claim_cooldown(session, "auto_increase", f"user:{u.id}:{p.kind}", now, p.cooldown_minutes):
            continue
        ceiling = bounds_for(u, p.kind, p).ceiling
        want = _increase(p, cap, ceiling, used, available)
        inc = want
        if ceiling is not None:
            inc = min(inc, max(0, ceiling - cap))
        inc = min(inc, max(0, available))
        if inc <= 0:
            if requests.raise_auto_request(session, u, p.kind, want or max(1, cap // 4), now) is not None:
                asked += 1
            continue
        available -= inc
        changes.append((u, cap + inc))
    n = _apply(session, p.org_id, p.kind, "job.auto_increase", changes, {"method": p.increase_method}) \
        if changes else 0
    return n, asked


def _first_day(schedule: str, now: datetime) -> tuple[str, bool]:
    if schedule == "daily":
        return f"{now:%Y-%m-%d}", True
    if schedule == "weekly":
        return week_key(now), now.weekday() == 0
    return month_key(now), now.day == 1


def run_due_jobs(session: Session, *, now: datetime | None = None) -> JobReport:
    """Everything due at `now`, in the caller's transaction (the CLI and the in-app scheduler call this)."""
    now = now or utcnow()
    rep = JobReport()
    rep.changed["ban_expiry"] = expire_bans(session, now)
    rep.changed["grant_expiry"] = expire_grants(session, now, rep)
    for p in _policies(session, col(DistributionPolicy.reclamation).is_(True)):
        period, first = _first_day(p.reclaim_schedule, now)
        if _locked(session, p.org_id, now):
            rep.skipped_locked.append(f"reclamation org {p.org_id}")
        elif claim_period(session, "reclamation", f"org:{p.org_id}:{p.kind}", period, now, first_day=first):
            rep.changed["reclamation"] += reclaim(session, p, now)
    for p in _policies(session, col(DistributionPolicy.monthly_reset).is_(True)):
        if _locked(session, p.org_id, now):
            rep.skipped_locked.append(f"monthly reset org {p.org_id}")
        elif claim_period(session, "monthly_reset", f"org:{p.org_id}:{p.kind}", month_key(now), now,
                          first_day=now.day == 1):
            rep.changed["monthly_reset"] += monthly_reset(session, p, now)
    for p in _policies(session, col(DistributionPolicy.schedule) != "off"):
        period, first = _first_day(p.schedule, now)
        if _locked(session, p.org_id, now):
            rep.skipped_locked.append(f"scheduled distribution org {p.org_id}")
        elif claim_period(session, "scheduled_distribution", f"org:{p.org_id}:{p.kind}", period, now,
                          first_day=first):
            run = runs._execute(session, system_actor(p.org_id), p.org_id, p.kind, p.scheduled_strategy, None, None,
                                now)
            rep.changed["scheduled_distribution"] += len(run.changes)
    for p in _policies(session, col(DistributionPolicy.auto_increase).is_(True)):
        if _locked(session, p.org_id, now):
            rep.skipped_locked.append(f"auto-increase org {p.org_id}")
            continue
        n, _ = auto_increase(session, p, now)
        rep.changed["auto_increase"] += n
    session.flush()
    return rep
