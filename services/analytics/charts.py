"""Token Statistics: the data of every chart, read from the rollup tables only.

Which rollup answers which question (models/usage.py):
- org × kind × day (`usage_org_daily`): usage over time (day/week/month), the cards (cards.py);
- org × model × kind × day / month (`usage_daily`, `usage_monthly`): model filter, usage by model, monthly chart;
- org × kind × hour (`usage_hourly`): hour granularity (≤ 7 days);
- org × user × kind × day / month / year (`usage_user_daily`, `usage_user_monthly`, `usage_user_yearly`): per-user
  figures — a range is read as whole years, whole months and days (services/usage/rollup_ranges.py), and the top N
  users are found from bounds so that the partial months at a range's edges are summed for a few users only.
No rollup holds user × model: a chart that cannot honour a filter says so in its `note` instead of guessing.
Each chart is a few hundred plain rows (`Chart.rows`); `Chart.frame` makes a pandas frame of them on demand
(exports, tests) — the page draws the rows as they are. The SQL is in statistics_sql.py. Super admins without a
working org (actor.org_id None) see all orgs side by side (an `org` column).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import pandas as pd
from sqlmodel import Session

from models import KINDS, month_start, utcnow
from services.analytics import statistics_sql as q
from services.analytics.stats_filter import Scope, StatsFilter, resolve_scope
from services.core.actor import Actor
from services.core.errors import Invalid
from services.core.permissions import user_in_scope
from services.usage.rollup_ranges import Costs, next_month, pieces

GRANULARITIES = ("hour", "day", "week", "month")
MAX_HOUR_DAYS = 7
MAX_TOP = 100
MAX_CANDIDATES = 300  # top N: above this many possible users, sum the partial months for everyone instead

INT_COLUMNS = {"billed_tokens", "events", "prompt_tokens", "completion_tokens", "tokens", "training", "assigned",
               "used"}


@dataclass
class Chart:
    """One chart's data as plain rows; `frame` is the same as a pandas frame (built on first use)."""

    columns: list[str]
    rows: list[tuple]
    note: str = ""  # a filter the chart could not apply, said in words

    def column(self, name: str) -> list:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    @property
    def empty(self) -> bool:
        return not any(self.column("billed_tokens"))

    @cached_property
    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=self.columns)
        for c in self.columns:
            if c in ("period", "month"):
                frame[c] = pd.to_datetime(frame[c])
            elif c in INT_COLUMNS:
                frame[c] = frame[c].astype("int64")
        return frame


def _chart(scope: Scope, columns: list[str], rows: list[tuple], note: str = "") -> Chart:
    """Rows that start with the org id: its name in an `org` column (all orgs) or nothing (one org)."""
    if scope.all_orgs:
        names = scope.names
        return Chart(["org", *columns[1:]], [(names.get(r[0], "?"), *r[1:]) for r in rows], note)
    return Chart(columns[1:], [r[1:] for r in rows], note)


def _orgs(scope: Scope, seen) -> list[int]:
    """The orgs a chart shows: the one in scope, or (all orgs) those with usage, by name."""
    if scope.org_ids is not None:  # not all orgs
        return list(scope.org_ids)
    return sorted(set(seen), key=lambda o: (scope.names.get(o, "?"), o))


def bucket_of(value, granularity: str) -> datetime:
    """The (naive UTC) start of the bucket holding a day or an hour."""
    if granularity == "hour":
        v = value.astimezone(UTC) if value.tzinfo else value
        return v.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if isinstance(d, datetime):
        d = d.date()
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


def usage_over_time(db: Session, *, actor: Actor, flt: StatsFilter, granularity: str,
                    scope: Scope | None = None) -> Chart:
    """Billed tokens per bucket and kind; every bucket of the range is present (0 when idle). Each rollup row
    read is one (org, day or hour, kind) of the filter, so the rows are bucketed as they come."""
    scope = resolve_scope(db, actor, scope=scope)
    if granularity not in GRANULARITIES:
        raise Invalid("Granularity must be hour, day, week or month.", field="granularity")
    note = ""
    lo: date  # hours: a datetime
    hi: date
    if granularity == "hour":
        if flt.days > MAX_HOUR_DAYS:
            raise Invalid(f"Hourly granularity covers at most {MAX_HOUR_DAYS} days; choose day, week or month, "
                          "or a shorter range.", field="granularity")
        if flt.user_id is not None or flt.model_id is not None:
            raise Invalid("Hourly usage is kept per organization and kind only: remove the user and model "
                          "filters or choose day granularity.", field="granularity")
        source, lo, hi, ident = "hour", flt.start_dt, flt.end_dt, None
    else:
        lo, hi = flt.start, flt.end
        if flt.user_id is not None:
            source, ident = "user", flt.user_id
            if flt.model_id is not None:
                note = "Per-user usage is not split by model: the model filter is not applied here."
        elif flt.model_id is not None:
            source, ident = "model", flt.model_id
        else:
            source, ident = "org", None
    rows = q.over_time(db, scope.ids, source, lo, hi, flt.kind, ident)
    acc: dict[tuple, list[int]] = {}
    buckets: dict = {}
    for org_id, at, kind, billed, events in rows:  # ≤ 2 rows a day (or an hour) and org
        b = buckets.get(at)
        if b is None:
            b = buckets[at] = bucket_of(at, granularity)
        slot = acc.setdefault((org_id, b, kind), [0, 0])
        slot[0] += billed
        slot[1] += events
    kinds = [flt.kind] if flt.kind else list(KINDS)
    axis = _axis(flt, granularity)
    rows = [(o, p, k, *acc.get((o, p, k), (0, 0))) for o in _orgs(scope, (k[0] for k in acc)) for p in axis
            for k in kinds]
    return _chart(scope, ["org_id", "period", "kind", "billed_tokens", "events"], rows, note)


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
        if model_id is not None:
            note = "Per-user usage is not split by model: the model filter is not applied here."
        model_id = None
    acc: dict[tuple, int] = {}
    for org_id, month, kind, billed in q.monthly(db, scope.ids, first, user_id, model_id):
        key = (org_id, bucket_of(month, "month"), kind)
        acc[key] = acc.get(key, 0) + int(billed)
    axis = [datetime(first.year, first.month, 1)]
    for _ in range(months - 1):
        nxt = next_month(axis[-1].date())
        axis.append(datetime(nxt.year, nxt.month, 1))
    rows = []
    for o in _orgs(scope, (k[0] for k in acc)):
        for m in axis:
            tok, tr = acc.get((o, m, "tokens"), 0), acc.get((o, m, "training"), 0)
            rows.append((o, m, tok, tr, tok + tr))
    return _chart(scope, ["org_id", "month", "tokens", "training", "billed_tokens"], rows, note)


def _today() -> date:
    return utcnow().date()


def by_model(db: Session, *, actor: Actor, flt: StatsFilter, scope: Scope | None = None) -> Chart:
    """Tokens per model over the range: whole months from the monthly rollup, partial months from the daily one
    (or the month minus the days outside it)."""
    scope = resolve_scope(db, actor, scope=scope)
    ps = pieces(flt.start, flt.end + timedelta(days=1), Costs(_today(), day=1.0), years=False)
    rows = sorted(((o, n, int(p), int(c), int(b), int(e)) for o, n, p, c, b, e in
                   q.by_model(db, scope.ids, ps, flt.kind, flt.model_id)),
                  key=lambda r: (scope.names.get(r[0], ""), r[0], -r[4], r[1]))
    note = "Usage by model covers every user: the user filter is not applied here." if flt.user_id else ""
    return _chart(scope, ["org_id", "model", "prompt_tokens", "completion_tokens", "billed_tokens", "events"], rows,
                  note)


# ----------------------------------------------------------------------------------------------- per user
def _per_user_totals(db: Session, scope: Scope, flt: StatsFilter, limit: int | None) -> list[tuple]:
    """(org, user, billed, events, email, name) over the range, exact, largest first (`limit`: the top N).

    Top N: the range is read as whole years and months with its partial months left open (bounded by their
    whole month); one query keeps the users who can still reach the top N, a second sums those few exactly,
    their partial months from the daily rollup (statistics_sql.user_candidates / user_totals)."""
    end = flt.end + timedelta(days=1)
    orgs, kind = scope.ids, flt.kind
    ps = pieces(flt.start, end, Costs(_today()), edges=limit is not None and flt.user_id is None)
    open_days = sum((p.hi - p.lo).days for p in ps if p.edge)
    if open_days > flt.days - sum((p.part[1] - p.part[0]).days for p in ps if p.edge and p.part is not None):
        # The open months would outweigh what the range adds up exactly: bounds that loose keep most users
        # as candidates, so read the partial months' days for everyone instead.
        ps = pieces(flt.start, end, Costs(_today()))
    if limit is None or not any(p.edge for p in ps):  # open edges come with a top N only
        return q.user_totals(db, orgs, ps, kind, flt.user_id, None, limit)
    cands = q.user_candidates(db, orgs, ps, kind, limit)
    if len(cands) > MAX_CANDIDATES:
        return q.user_totals(db, orgs, pieces(flt.start, end, Costs(_today())), kind, None, None, limit)
    if not cands:
        return []
    rows = q.user_totals(db, orgs, ps, kind, None, sorted({uid for _, uid in cands}), None)
    return [r for r in rows if (r[0], r[1]) in cands][:limit]


def per_user(db: Session, *, actor: Actor, flt: StatsFilter, limit: int | None = None,
             scope: Scope | None = None) -> Chart:
    """Billed tokens per user over the range, largest first (`limit` = top N; None = everyone, for export)."""
    scope = resolve_scope(db, actor, scope=scope)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_TOP):
        raise Invalid(f"Top N must be between 1 and {MAX_TOP}.", field="top")
    rows = [(o, uid, email or "?", name or "", int(b), int(e))
            for o, uid, b, e, email, name in _per_user_totals(db, scope, flt, limit)]
    note = "Per-user usage is not split by model: the model filter is not applied here." if flt.model_id else ""
    return _chart(scope, ["org_id", "user_id", "email", "name", "billed_tokens", "events"], rows, note)


def assigned_vs_used(db: Session, *, actor: Actor, kind: str | None = None, limit: int | None = 30,
                     now: datetime | None = None, scope: Scope | None = None) -> Chart:
    """Each user's monthly cap (assigned) against what they used this calendar month, by usage, then cap."""
    scope = resolve_scope(db, actor, scope=scope)
    kind = kind or "tokens"
    if kind not in KINDS:
        raise Invalid("Kind must be 'tokens' or 'training'.", field="kind")
    now = now or utcnow()
    rows = [(o, uid, email, int(a), int(u), int(u))
            for o, uid, email, a, u in q.assigned(db, scope.ids, kind, month_start(now), limit)]
    return _chart(scope, ["org_id", "user_id", "email", "assigned", "used", "billed_tokens"], rows)
