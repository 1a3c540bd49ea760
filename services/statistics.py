"""Token Statistics: the cards and the data of every chart, read from the rollup tables only.

Which rollup answers which question (models/usage.py):
- org × model × kind × day (`usage_daily`): usage over time (day/week/month), by model, monthly by kind;
- org × kind × hour (`usage_hourly`): hour granularity (≤ 7 days);
- org × user × kind × month / day (`usage_user_monthly`, `usage_user_daily`): per-user figures — whole months
  of a range come from the monthly rollup, the partial months at its edges from the daily one.
No rollup holds user × model: a chart that cannot honour a filter says so in its `note` instead of guessing.
Every result is a small pandas frame (a few thousand rows at most). All times are UTC; ranges are whole days,
`start` and `end` inclusive. Super admins without a working org (actor.org_id None) see all orgs side by
side (an `org` column).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import func, union_all
from sqlmodel import Session, select

from models import (AIModel, KINDS, Organization, UsageDaily, UsageHourly, UsageUserDaily, UsageUserMonthly, User,
                    month_start, utcnow)
from services.actor import Actor
from services.errors import Invalid, NotFound
from services.permissions import READ_STATS, require_role, scoped_org_id, user_in_scope
from services.summary import compute_summary, next_month_start

GRANULARITIES = ("hour", "day", "week", "month")
MAX_HOUR_DAYS = 7
MAX_RANGE_DAYS = 3 * 366
MAX_TOP = 100
BURN_DAYS = 7  # the burn rate is the average of the last 7 full days plus today


# ------------------------------------------------------------------------------------------ scope & filters
@dataclass(frozen=True)
class Scope:
    org_ids: tuple[int, ...] | None  # None = every org (super admin, "All organizations")
    names: dict[int, str]

    @property
    def all_orgs(self) -> bool:
        return self.org_ids is None

    def where(self, column):
        return True if self.org_ids is None else column.in_(self.org_ids)


def resolve_scope(db: Session, actor: Actor, what: str = "see token statistics", scope: Scope | None = None) -> Scope:
    """The orgs the actor may read. `scope`: one already resolved for this actor in this transaction
    (statistics_page resolves it once for all charts)."""
    require_role(actor, READ_STATS, what)
    if scope is not None:
        return scope
    if actor.is_super and actor.org_id is None:
        names = dict(db.exec(select(Organization.id, Organization.name)).all())
        return Scope(None, names)
    org_id = scoped_org_id(db, actor)
    return Scope((org_id,), {org_id: db.get(Organization, org_id).name})


@dataclass(frozen=True)
class StatsFilter:
    start: date
    end: date  # inclusive
    kind: str | None = None
    model_id: int | None = None
    user_id: int | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_dt(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=timezone.utc)

    @property
    def end_dt(self) -> datetime:  # exclusive
        return self.start_dt + timedelta(days=self.days)


def _as_date(value, field: str) -> date:
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


def _opt_id(value, field: str) -> int | None:
    if value in (None, "", "all"):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise Invalid(f"Unknown {field}.", field=field)
    return value


def make_filter(db: Session, actor: Actor, *, start, end, kind=None, model_id=None, user_id=None) -> StatsFilter:
    """Validate the page's filters (any JSON may arrive) and check the user and model exist in scope."""
    s, e = _as_date(start, "start"), _as_date(end, "end")
    if e < s:
        raise Invalid("The range ends before it starts.", field="end")
    if (e - s).days + 1 > MAX_RANGE_DAYS:
        raise Invalid(f"Choose a range of at most {MAX_RANGE_DAYS} days.", field="start")
    if kind in ("", "all"):
        kind = None
    if kind is not None and kind not in KINDS:
        raise Invalid("Kind must be 'tokens' or 'training'.", field="kind")
    mid, uid = _opt_id(model_id, "model"), _opt_id(user_id, "user")
    if mid is not None and db.get(AIModel, mid) is None:
        raise NotFound("Unknown model.", field="model")
    if uid is not None:
        user_in_scope(db, actor, uid)
    return StatsFilter(s, e, kind, mid, uid)


# ------------------------------------------------------------------------------------------------- cards
@dataclass
class Cards:
    purchased: int
    assigned: int
    used_this_month: int
    projected_month_end: int
    burn_per_day: int
    pool_remaining: int
    days_left: int | None  # None: no usage in the burn window
    training_purchased: int = 0
    training_used_this_month: int = 0
    per_org: list[dict] = field(default_factory=list)  # all-orgs view: one row per org


def _org_cards(db: Session, org_id: int, now: datetime) -> dict:
    summ = compute_summary(db, org_id, now)
    today = now.date()
    since = today - timedelta(days=BURN_DAYS)
    burn_total = int(db.exec(select(func.coalesce(func.sum(UsageDaily.billed_tokens), 0)).where(
        UsageDaily.org_id == org_id, UsageDaily.kind == "tokens", UsageDaily.day >= since,
        UsageDaily.day <= today)).one())
    return {"org_id": org_id, "purchased": summ.tokens.purchased, "assigned": summ.tokens.assigned,
            "used_this_month": summ.tokens.used_this_month, "pool_remaining": summ.tokens.pool_remaining,
            "burn_total": burn_total, "training_purchased": summ.training.purchased,
            "training_used_this_month": summ.training.used_this_month}


def projected(used: int, now: datetime) -> int:
    """Month-end use if the month goes on at the pace so far (integer arithmetic on elapsed seconds)."""
    first = datetime.combine(month_start(now), datetime.min.time(), tzinfo=now.tzinfo)
    total = int((next_month_start(now) - first).total_seconds())
    elapsed = max(1, int((now - first).total_seconds()))
    return used * total // elapsed


def cards(db: Session, *, actor: Actor, now: datetime | None = None, scope: Scope | None = None) -> Cards:
    """Inference-token cards; burn = tokens used over the last 7 days and today, per elapsed day."""
    scope = resolve_scope(db, actor, scope=scope)
    now = now or utcnow()
    ids = scope.org_ids if scope.org_ids is not None else tuple(sorted(scope.names))
    rows = [_org_cards(db, oid, now) for oid in ids]
    tot = {k: sum(r[k] for r in rows) for k in ("purchased", "assigned", "used_this_month", "pool_remaining",
                                                  "burn_total", "training_purchased", "training_used_this_month")}
    elapsed_days = BURN_DAYS + max(1, (now - datetime.combine(now.date(), datetime.min.time(),
                                                              tzinfo=now.tzinfo)).seconds) / 86_400
    burn = int(tot["burn_total"] / elapsed_days)
    per_org = []
    if scope.all_orgs:
        for r in rows:
            b = int(r["burn_total"] / elapsed_days)
            per_org.append({"org": scope.names[r["org_id"]], "purchased": r["purchased"], "assigned": r["assigned"],
                            "used_this_month": r["used_this_month"],
                            "projected_month_end": projected(r["used_this_month"], now),
                            "days_left": (r["pool_remaining"] // b) if b else None})
    return Cards(purchased=tot["purchased"], assigned=tot["assigned"], used_this_month=tot["used_this_month"],
                 projected_month_end=projected(tot["used_this_month"], now), burn_per_day=burn,
                 pool_remaining=tot["pool_remaining"], days_left=(tot["pool_remaining"] // burn) if burn else None,
                 training_purchased=tot["training_purchased"],
                 training_used_this_month=tot["training_used_this_month"], per_org=per_org)


# ------------------------------------------------------------------------------------------------ charts
@dataclass
class Chart:
    frame: pd.DataFrame
    note: str = ""  # a filter the chart could not apply, said in words

    @property
    def empty(self) -> bool:
        return self.frame.empty or not self.frame["billed_tokens"].astype("int64").any()


def _org_col(frame: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    if scope.all_orgs:
        frame.insert(0, "org", frame.pop("org_id").map(scope.names).fillna("?"))
    else:
        frame = frame.drop(columns=["org_id"])
    return frame


def bucket_of(value, granularity: str) -> datetime:
    """The (naive UTC) start of the bucket holding a day or an hour."""
    if granularity == "hour":
        v = value.astimezone(timezone.utc) if value.tzinfo else value
        return v.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if granularity == "week":
        d = d - timedelta(days=d.weekday())
    elif granularity == "month":
        d = d.replace(day=1)
    return datetime(d.year, d.month, d.day)


def _axis(f: StatsFilter, granularity: str) -> list[datetime]:
    if granularity == "hour":
        first = datetime(f.start.year, f.start.month, f.start.day)
        return [first + timedelta(hours=h) for h in range(f.days * 24)]
    out: list[datetime] = []
    for i in range(f.days):
        b = bucket_of(f.start + timedelta(days=i), granularity)
        if not out or out[-1] != b:
            out.append(b)
    return out


def usage_over_time(db: Session, *, actor: Actor, flt: StatsFilter, granularity: str, scope: Scope | None = None) -> Chart:
    """Billed tokens per bucket and kind; every bucket of the range is present (0 when idle)."""
    scope = resolve_scope(db, actor, scope=scope)
    if granularity not in GRANULARITIES:
        raise Invalid("Granularity must be hour, day, week or month.", field="granularity")
    note = ""
    if granularity == "hour":
        if flt.days > MAX_HOUR_DAYS:
            raise Invalid(f"Hourly granularity covers at most {MAX_HOUR_DAYS} days; choose day, week or month, "
                          "or a shorter range.", field="granularity")
        if flt.user_id is not None or flt.model_id is not None:
            raise Invalid("Hourly usage is kept per organization and kind only: remove the user and model "
                          "filters or choose day granularity.", field="granularity")
        q = select(UsageHourly.org_id, UsageHourly.hour, UsageHourly.kind, func.sum(UsageHourly.billed_tokens),
                   func.sum(UsageHourly.events)).where(
            scope.where(UsageHourly.org_id), UsageHourly.hour >= flt.start_dt, UsageHourly.hour < flt.end_dt)
        if flt.kind:
            q = q.where(UsageHourly.kind == flt.kind)
        q = q.group_by(UsageHourly.org_id, UsageHourly.hour, UsageHourly.kind)
    elif flt.user_id is not None:
        t = UsageUserDaily
        q = select(t.org_id, t.day, t.kind, func.sum(t.billed_tokens), func.sum(t.events)).where(
            scope.where(t.org_id), t.user_id == flt.user_id, t.day >= flt.start, t.day <= flt.end)
        if flt.kind:
            q = q.where(t.kind == flt.kind)
        q = q.group_by(t.org_id, t.day, t.kind)
        if flt.model_id is not None:
            note = "Per-user usage is not split by model: the model filter is not applied here."
    else:
        t = UsageDaily
        q = select(t.org_id, t.day, t.kind, func.sum(t.billed_tokens), func.sum(t.events)).where(
            scope.where(t.org_id), t.day >= flt.start, t.day <= flt.end)
        if flt.kind:
            q = q.where(t.kind == flt.kind)
        if flt.model_id is not None:
            q = q.where(t.model_id == flt.model_id)
        q = q.group_by(t.org_id, t.day, t.kind)
    acc: dict[tuple, list[int]] = {}
    for org_id, when, kind, billed, events in db.exec(q).all():  # a few hundred rows: plain Python is quickest
        slot = acc.setdefault((org_id, bucket_of(when, granularity), kind), [0, 0])
        slot[0] += int(billed)
        slot[1] += int(events)
    kinds = [flt.kind] if flt.kind else list(KINDS)
    orgs = sorted({k[0] for k in acc}) if scope.all_orgs else list(scope.org_ids)
    rows = [(o, p, k, *acc.get((o, p, k), (0, 0))) for o in orgs for p in _axis(flt, granularity) for k in kinds]
    frame = pd.DataFrame(rows, columns=["org_id", "period", "kind", "billed_tokens", "events"])
    frame["period"] = pd.to_datetime(frame["period"])
    return Chart(_org_col(frame, scope), note)


def _month_of(db: Session, column):
    """'YYYY-MM' of a date column, grouped in SQL (the year's daily rows never leave the database)."""
    if db.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.substr(column, 1, 7)


def monthly_by_kind(db: Session, *, actor: Actor, months: int = 12, user_id: int | None = None,
                    model_id: int | None = None, now: datetime | None = None, scope: Scope | None = None) -> Chart:
    """Inference vs training per calendar month, the last `months` months including the current one."""
    scope = resolve_scope(db, actor, scope=scope)
    now = now or utcnow()
    first = month_start(now)
    for _ in range(months - 1):
        first = month_start(first - timedelta(days=1))
    note = ""
    if user_id is not None:
        user_in_scope(db, actor, user_id)
        t = UsageUserMonthly
        q = select(t.org_id, t.month, t.kind, func.sum(t.billed_tokens)).where(
            scope.where(t.org_id), t.user_id == user_id, t.month >= first).group_by(t.org_id, t.month, t.kind)
        if model_id is not None:
            note = "Per-user usage is not split by model: the model filter is not applied here."
        rows = db.exec(q).all()
    else:
        t = UsageDaily
        month = _month_of(db, t.day)
        q = select(t.org_id, month, t.kind, func.sum(t.billed_tokens)).where(scope.where(t.org_id), t.day >= first)
        if model_id is not None:
            q = q.where(t.model_id == model_id)
        rows = [(o, date.fromisoformat(m + "-01"), k, b) for o, m, k, b in
                db.exec(q.group_by(t.org_id, month, t.kind)).all()]
    acc: dict[tuple, int] = {}
    for org_id, month, kind, billed in rows:
        key = (org_id, bucket_of(month, "month"), kind)
        acc[key] = acc.get(key, 0) + int(billed)
    orgs = sorted({k[0] for k in acc}) if scope.all_orgs else list(scope.org_ids)
    axis = [datetime(first.year, first.month, 1)]
    for _ in range(months - 1):
        axis.append(bucket_of(axis[-1] + timedelta(days=32), "month"))
    out = [{"org_id": o, "month": m, **{k: acc.get((o, m, k), 0) for k in KINDS}} for o in orgs for m in axis]
    wide = pd.DataFrame(out, columns=["org_id", "month", *KINDS])
    wide["month"] = pd.to_datetime(wide["month"])
    for k in KINDS:
        wide[k] = wide[k].astype("int64")
    wide["billed_tokens"] = wide[list(KINDS)].sum(axis=1)
    return Chart(_org_col(wide, scope), note)


def by_model(db: Session, *, actor: Actor, flt: StatsFilter, scope: Scope | None = None) -> Chart:
    scope = resolve_scope(db, actor, scope=scope)
    t = UsageDaily
    q = select(t.org_id, t.model_id, func.sum(t.prompt_tokens), func.sum(t.completion_tokens),
               func.sum(t.billed_tokens), func.sum(t.events)).where(
        scope.where(t.org_id), t.day >= flt.start, t.day <= flt.end)
    if flt.kind:
        q = q.where(t.kind == flt.kind)
    if flt.model_id is not None:
        q = q.where(t.model_id == flt.model_id)
    rows = db.exec(q.group_by(t.org_id, t.model_id)).all()
    frame = pd.DataFrame(rows, columns=["org_id", "model_id", "prompt_tokens", "completion_tokens",
                                        "billed_tokens", "events"])
    for c in ("prompt_tokens", "completion_tokens", "billed_tokens", "events"):
        frame[c] = frame[c].astype("int64")
    names = dict(db.exec(select(AIModel.id, AIModel.name)).all())
    frame.insert(1, "model", frame.pop("model_id").map(names).fillna("?"))
    frame = frame.sort_values(["org_id", "billed_tokens", "model"], ascending=[True, False, True])
    note = "Usage by model covers every user: the user filter is not applied here." if flt.user_id else ""
    return Chart(_org_col(frame.reset_index(drop=True), scope), note)


def _next_month(d: date) -> date:
    return month_start(d.replace(day=28) + timedelta(days=4))


def month_pieces(start: date, end_excl: date) -> list[tuple[int, str, date, date]]:
    """Split [start, end_excl) into rollup reads: (+1, "month", m, _) for a whole month, (+1, "days", lo, hi)
    for part of a month — or, when the part covers more than half its month, the whole month minus the days
    outside it ((+1, "month") and (-1, "days") pieces). At most ~15 days per edge come from the daily rollup."""
    out = []
    m = month_start(start)
    while m < end_excl:
        nxt = _next_month(m)
        lo, hi = max(start, m), min(end_excl, nxt)
        if (lo, hi) == (m, nxt):
            out.append((1, "month", m, nxt))
        elif (hi - lo).days * 2 <= (nxt - m).days:
            out.append((1, "days", lo, hi))
        else:
            out.append((1, "month", m, nxt))
            if m < lo:
                out.append((-1, "days", m, lo))
            if hi < nxt:
                out.append((-1, "days", hi, nxt))
        m = nxt
    return out


def _per_user_query(scope: Scope, flt: StatsFilter):
    """(org, user, billed, events) over the range, exact, from the monthly and daily per-user rollups."""
    pieces = month_pieces(flt.start, flt.end + timedelta(days=1))
    m, d = UsageUserMonthly, UsageUserDaily
    months = [p[2] for p in pieces if p[1] == "month"]
    parts = []
    if months:
        q = select(m.org_id, m.user_id, m.billed_tokens.label("b"), m.events.label("e")).where(
            scope.where(m.org_id), m.month.in_(months))
        if flt.kind:
            q = q.where(m.kind == flt.kind)
        if flt.user_id is not None:
            q = q.where(m.user_id == flt.user_id)
        parts.append(q)
    for sign, what, lo, hi in pieces:
        if what != "days":
            continue
        q = select(d.org_id, d.user_id, (d.billed_tokens * sign).label("b"), (d.events * sign).label("e")).where(
            scope.where(d.org_id), d.day >= lo, d.day < hi)
        if flt.kind:
            q = q.where(d.kind == flt.kind)
        if flt.user_id is not None:
            q = q.where(d.user_id == flt.user_id)
        parts.append(q)
    u = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    billed = func.sum(u.c.b)
    return (select(u.c.org_id, u.c.user_id, billed.label("billed"), func.sum(u.c.e).label("events"))
            .group_by(u.c.org_id, u.c.user_id).having(billed > 0))


def _users(db: Session, ids) -> dict[int, tuple[str, str, int, int]]:
    ids = list(ids)
    out = {}
    for i in range(0, len(ids), 900):
        for u in db.exec(select(User.id, User.email, User.name, User.max_tokens, User.max_training_tokens)
                         .where(User.id.in_(ids[i:i + 900]))).all():
            out[u[0]] = (u[1], u[2], int(u[3]), int(u[4]))
    return out


def per_user(db: Session, *, actor: Actor, flt: StatsFilter, limit: int | None = None, scope: Scope | None = None) -> Chart:
    """Billed tokens per user over the range, largest first (`limit` = top N; None = everyone, for export)."""
    scope = resolve_scope(db, actor, scope=scope)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_TOP):
        raise Invalid(f"Top N must be between 1 and {MAX_TOP}.", field="top")
    q = _per_user_query(scope, flt)
    sub = q.subquery()
    q = select(sub).order_by(sub.c.billed.desc(), sub.c.user_id)
    if limit is not None:
        q = q.limit(limit)
    rows = db.execute(q).all()
    info = _users(db, [r[1] for r in rows])
    frame = pd.DataFrame([{"org_id": r[0], "user_id": r[1], "email": info.get(r[1], ("?",))[0],
                           "name": info.get(r[1], ("", ""))[1], "billed_tokens": int(r[2]), "events": int(r[3])}
                          for r in rows],
                         columns=["org_id", "user_id", "email", "name", "billed_tokens", "events"])
    note = "Per-user usage is not split by model: the model filter is not applied here." if flt.model_id else ""
    return Chart(_org_col(frame, scope), note)


def assigned_vs_used(db: Session, *, actor: Actor, kind: str | None = None, limit: int | None = 30,
                     now: datetime | None = None, scope: Scope | None = None) -> Chart:
    """Each user's monthly cap (assigned) against what they used this calendar month, by usage, then cap."""
    scope = resolve_scope(db, actor, scope=scope)
    kind = kind or "tokens"
    if kind not in KINDS:
        raise Invalid("Kind must be 'tokens' or 'training'.", field="kind")
    now = now or utcnow()
    m = UsageUserMonthly
    used = select(m.user_id, m.billed_tokens.label("used")).where(
        scope.where(m.org_id), m.month == month_start(now), m.kind == kind).subquery()
    cap = User.max_tokens if kind == "tokens" else User.max_training_tokens
    q = (select(User.org_id, User.id, User.email, cap, func.coalesce(used.c.used, 0))
         .outerjoin(used, used.c.user_id == User.id)
         .where(scope.where(User.org_id), User.org_id.is_not(None), User.role != "super_admin")
         .order_by(func.coalesce(used.c.used, 0).desc(), cap.desc(), User.id))
    if limit is not None:
        q = q.limit(limit)
    frame = pd.DataFrame(db.exec(q).all(), columns=["org_id", "user_id", "email", "assigned", "used"])
    frame["assigned"] = frame["assigned"].astype("int64")
    frame["used"] = frame["used"].astype("int64")
    frame["billed_tokens"] = frame["used"]
    return Chart(_org_col(frame, scope))


def model_options(db: Session) -> list[tuple[int, str]]:
    return [(i, n) for i, n in db.exec(select(AIModel.id, AIModel.name).order_by(AIModel.name)).all()]


def find_user(db: Session, *, actor: Actor, email) -> int | None:
    """The id of a user in the actor's scope by email (the page's user filter); None for an empty box."""
    resolve_scope(db, actor)
    if not isinstance(email, str) or not email.strip():
        return None
    if len(email) > 320:
        raise Invalid("Email is too long.", field="user")
    uid = db.exec(select(User.id).where(func.lower(User.email) == email.strip().lower())).first()
    if uid is None:
        raise NotFound("No such user.", field="user")
    user_in_scope(db, actor, uid)
    return uid


@dataclass
class StatsPage:
    cards: Cards
    monthly: Chart
    over_time: Chart
    top_users: Chart
    models: Chart
    assigned: Chart


def statistics_page(db: Session, *, actor: Actor, flt: StatsFilter, granularity: str, top: int = 10,
                    now: datetime | None = None) -> StatsPage:
    """Everything the Token Statistics page shows, in one read transaction."""
    now = now or utcnow()
    sc = resolve_scope(db, actor)
    return StatsPage(
        cards=cards(db, actor=actor, now=now, scope=sc),
        monthly=monthly_by_kind(db, actor=actor, user_id=flt.user_id, model_id=flt.model_id, now=now, scope=sc),
        over_time=usage_over_time(db, actor=actor, flt=flt, granularity=granularity, scope=sc),
        top_users=per_user(db, actor=actor, flt=flt, limit=top, scope=sc),
        models=by_model(db, actor=actor, flt=flt, scope=sc),
        assigned=assigned_vs_used(db, actor=actor, kind=flt.kind, now=now, scope=sc),
    )
