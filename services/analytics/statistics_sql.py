"""The SQL of the Token Statistics page, over the rollups only; every function returns plain rows.

Each statement is built once per *shape* (which rollup, which filters, how many range pieces of which level)
with bound parameters and then reused: building a SQLAlchemy statement costs more than running one of these
small ones. The rules live in charts.py and cards.py (which rollup answers which question) and stats_filter.py
(who may read what); range pieces come from services/usage/rollup_ranges.py. `orgs` is the tuple of org ids read
(all orgs: every id, so that the rollups' org-first indexes always serve).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import BigInteger, Integer, bindparam, case, func, literal, null, select, union_all
from sqlmodel import Session, col

from models import (
    KINDS,
    AIModel,
    Purchase,
    UsageDaily,
    UsageHourly,
    UsageMonthly,
    UsageOrgDaily,
    UsageUserDaily,
    UsageUserMonthly,
    UsageUserMonthTotal,
    UsageUserYearTotal,
    User,
)
from services.tokens.pool import unexpired
from services.usage.rollup_ranges import Piece

_CACHE: dict[tuple, object] = {}
MAX_CACHED = 2048  # shapes are few (tables × filters × piece layouts of ranges up to 3 years)


def _stmt(key: tuple, build):
    stmt = _CACHE.get(key)
    if stmt is None:
        if len(_CACHE) >= MAX_CACHED:
            _CACHE.clear()
        stmt = _CACHE[key] = build()
    return stmt


def _run(db: Session, stmt, params: dict) -> list[tuple]:
    return [tuple(r) for r in db.connection().execute(stmt, params).all()]


def _scope(column, orgs):
    return column.in_(bindparam("orgs", expanding=True))


def _params(orgs, **kw) -> dict:
    return {**kw, "orgs": list(orgs)}


# ------------------------------------------------------------------------------------------- over time
_OVER_TIME: dict[str, tuple[type[UsageHourly | UsageUserDaily | UsageDaily | UsageOrgDaily], str]] = {
    "hour": (UsageHourly, "hour"), "user": (UsageUserDaily, "day"), "model": (UsageDaily, "day"),
    "org": (UsageOrgDaily, "day")}


def over_time(db: Session, orgs, source: str, lo, hi, kind: str | None, ident: int | None) -> list[tuple]:
    """(org, day or hour, kind, billed, events) in [lo, hi] (hours: [lo, hi)); one row per key of the source:
    `user` (per-user daily, ident = user id), `model` (per-model daily, ident = model id), `org`, `hour`."""
    t, at = _OVER_TIME[source]

    def build():
        when = getattr(t, at)
        upper = when < bindparam("hi") if source == "hour" else when <= bindparam("hi")
        q = select(col(t.org_id), when, col(t.kind), col(t.billed_tokens), col(t.events)).where(
            _scope(t.org_id, orgs), when >= bindparam("lo"), upper)
        if kind:
            q = q.where(col(t.kind) == bindparam("kind"))
        if issubclass(t, UsageUserDaily):  # source "user"
            q = q.where(col(t.user_id) == bindparam("ident"))
        elif issubclass(t, UsageDaily):  # source "model"
            q = q.where(col(t.model_id) == bindparam("ident"))
        return q

    stmt = _stmt(("over_time", source, bool(kind)), build)
    return _run(db, stmt, _params(orgs, lo=lo, hi=hi, kind=kind, ident=ident))


def monthly(db: Session, orgs, first: date, user_id: int | None, model_id: int | None) -> list[tuple]:
    """(org, month, kind, billed) for months ≥ first, one user's or (optionally one model's) the org's."""

    def build():
        if user_id is not None:
            u = UsageUserMonthly
            return select(col(u.org_id), col(u.month), col(u.kind), col(u.billed_tokens)).where(
                _scope(u.org_id, orgs), col(u.user_id) == bindparam("uid"), col(u.month) >= bindparam("first"))
        t = UsageMonthly
        q = select(col(t.org_id), col(t.month), col(t.kind), func.sum(t.billed_tokens)).where(
            _scope(t.org_id, orgs), col(t.month) >= bindparam("first"))
        if model_id is not None:
            q = q.where(col(t.model_id) == bindparam("mid"))
        return q.group_by(col(t.org_id), col(t.month), col(t.kind))

    stmt = _stmt(("monthly", user_id is not None, model_id is not None), build)
    return _run(db, stmt, _params(orgs, first=first, uid=user_id, mid=model_id))


def _range(when, p: Piece, i: int):
    return (when >= bindparam(f"a{i}"), when < bindparam(f"b{i}")) if p.level == "days" else (
        when == bindparam(f"a{i}"),)


def _piece_params(ps: list[Piece]) -> dict:
    out = {}
    for i, p in enumerate(ps):
        out[f"a{i}"] = p.lo
        if p.level == "days":
            out[f"b{i}"] = p.hi
    return out


def _signed(col, sign: int):
    return col if sign > 0 else -col


def _union(parts):
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


# -------------------------------------------------------------------------------------------- by model
def by_model(db: Session, orgs, ps: list[Piece], kind: str | None, model_id: int | None) -> list[tuple]:
    """(org, model name, prompt, completion, billed, events) summed over month pieces (per-model monthly
    rollup) and day pieces (per-model daily rollup); models without events in the range are left out."""

    def build():
        parts = []
        for i, p in enumerate(ps):
            t, when = (UsageDaily, UsageDaily.day) if p.level == "days" else (UsageMonthly, UsageMonthly.month)
            cols = (t.prompt_tokens, t.completion_tokens, t.billed_tokens, t.events)
            q = select(col(t.org_id), col(t.model_id),
                       *[_signed(c, p.sign).label(n) for c, n in zip(cols, "pcbe", strict=True)]).where(
                _scope(t.org_id, orgs), *_range(when, p, i))
            if kind:
                q = q.where(col(t.kind) == bindparam("kind"))
            if model_id is not None:
                q = q.where(col(t.model_id) == bindparam("mid"))
            parts.append(q)
        u = _union(parts)
        events = func.sum(u.c.e)
        return (select(u.c.org_id, func.coalesce(AIModel.name, "?"), func.sum(u.c.p), func.sum(u.c.c),
                       func.sum(u.c.b), events)
                .outerjoin(AIModel, AIModel.id == u.c.model_id)
                .group_by(u.c.org_id, u.c.model_id, AIModel.name).having(events != 0))

    shape = tuple((p.level, p.sign) for p in ps)
    stmt = _stmt(("models", shape, bool(kind), model_id is not None), build)
    return _run(db, stmt, _params(orgs, kind=kind, mid=model_id, **_piece_params(ps)))


# --------------------------------------------------------------------------------------------- per user
_USER_ROLLUP: dict[str, tuple[type[UsageUserYearTotal | UsageUserMonthTotal | UsageUserDaily], str]] = {
    "year": (UsageUserYearTotal, "year"), "month": (UsageUserMonthTotal, "month"), "days": (UsageUserDaily, "day")}


def _user_amounts(t, kind: str | None):
    """(billed, events) of a per-user rollup row: its kind's row (daily), or both kinds' columns (totals)."""
    if t is UsageUserDaily:
        return t.billed_tokens, t.events
    if kind:
        return getattr(t, kind), getattr(t, f"{kind}_events")
    return t.tokens + t.training, t.tokens_events + t.training_events


def _user_piece(p: Piece, i: int, orgs, kind, user_id, *, bounds: bool, users: bool):
    """One piece for every user (or the `users` parameter): exact (b, e), or with `bounds` the (lo, hi) it
    puts on each user's total — an open edge adds between 0 and its whole month. Months and years come from
    the side-by-side totals (one row per user), days from the per-kind daily rollup."""
    t, at = _USER_ROLLUP[p.level]
    when = getattr(t, at)
    (b, e), zero = _user_amounts(t, kind), literal(0, BigInteger)
    if bounds and p.edge:
        amounts = (-b if p.sign < 0 else zero).label("lo"), (b if p.sign > 0 else zero).label("hi")
    elif bounds:
        amounts = _signed(b, p.sign).label("lo"), _signed(b, p.sign).label("hi")
    else:
        amounts = _signed(b, p.sign).label("b"), _signed(e, p.sign).label("e")
    q = select(col(t.org_id).label("org_id"), col(t.user_id).label("user_id"), *amounts).where(
        _scope(t.org_id, orgs), *_range(when, p, i))
    if kind and issubclass(t, UsageUserDaily):
        q = q.where(col(t.kind) == bindparam("kind"))
    if user_id is not None:
        q = q.where(col(t.user_id) == bindparam("uid"))
    if users:
        q = q.where(col(t.user_id).in_(bindparam("users", expanding=True)))
    if (users or user_id is not None) and not kind and issubclass(t, UsageUserDaily):
        q = q.where(col(t.kind).in_(KINDS))  # seek each user's (kind, day) range in the primary key
    return q


def user_candidates(db: Session, orgs, ps: list[Piece], kind: str | None, n: int) -> set[tuple[int, int]]:
    """(org, user) of every user who can still be among the top n: bounds from whole years and months (open
    edges: 0 … their whole month); the n-th largest lower bound is a threshold that no user whose upper bound
    is below it can reach."""

    def build():
        u = _union([_user_piece(p, i, orgs, kind, None, bounds=True, users=False) for i, p in enumerate(ps)])
        g = (select(u.c.org_id, u.c.user_id, func.sum(u.c.lo).label("lo"), func.sum(u.c.hi).label("hi"))
             .group_by(u.c.org_id, u.c.user_id).cte("bounds"))
        threshold = (select(g.c.lo).order_by(g.c.lo.desc()).limit(1)
                     .offset(bindparam("skip", type_=Integer)).scalar_subquery())
        return select(g.c.org_id, g.c.user_id).where(g.c.hi > 0, g.c.hi >= func.coalesce(threshold, 0))

    shape = tuple((p.level, p.sign, p.edge) for p in ps)
    stmt = _stmt(("candidates", shape, kind), build)
    params = _params(orgs, kind=kind, skip=n - 1, **_piece_params(ps))
    return {(o, uid) for o, uid in _run(db, stmt, params)}


def user_totals(db: Session, orgs, ps: list[Piece], kind: str | None, user_id: int | None,
                users: list[int] | None, limit: int | None) -> list[tuple]:
    """(org, user, billed, events, email, name), exact, largest first, users with usage only; open edges are
    read as their days. `users`: only these; `limit`: the first rows only."""
    ps = [Piece(p.sign, "days", *p.part) if p.edge and p.part is not None else p for p in ps]

    def build():
        u = _union([_user_piece(p, i, orgs, kind, user_id, bounds=False, users=users is not None)
                    for i, p in enumerate(ps)])
        g = (select(u.c.org_id, u.c.user_id, func.sum(u.c.b).label("b"), func.sum(u.c.e).label("e"))
             .group_by(u.c.org_id, u.c.user_id).subquery())
        q = (select(g.c.org_id, g.c.user_id, g.c.b, g.c.e, col(User.email), col(User.name))
             .outerjoin(User, col(User.id) == g.c.user_id).where(g.c.b > 0).order_by(g.c.b.desc(), g.c.user_id))
        return q.limit(bindparam("lim", type_=Integer)) if limit is not None else q

    shape = tuple((p.level, p.sign) for p in ps)
    key = ("user_totals", shape, kind, user_id is not None, users is not None, limit is not None)
    params = _params(orgs, kind=kind, uid=user_id, lim=limit, **_piece_params(ps))
    if users is not None:
        params["users"] = users
    return _run(db, _stmt(key, build), params)


def assigned(db: Session, orgs, kind: str, month: date, limit: int | None) -> list[tuple]:
    """(org, user, email, cap, used this month) of every org member (not super admins), by use, then cap."""

    def build():
        m = UsageUserMonthly
        used = select(col(m.user_id), col(m.billed_tokens).label("used")).where(
            _scope(m.org_id, orgs), col(m.month) == bindparam("month"), col(m.kind) == bindparam("kind")).subquery()
        cap = col(User.max_tokens) if kind == "tokens" else col(User.max_training_tokens)
        u = func.coalesce(used.c.used, 0)
        q = (select(col(User.org_id), col(User.id), col(User.email), cap, u).outerjoin(used, used.c.user_id == User.id)
             .where(_scope(User.org_id, orgs), col(User.org_id).is_not(None), col(User.role) != "super_admin")
             .order_by(u.desc(), cap.desc(), col(User.id)))
        return q.limit(bindparam("lim", type_=Integer)) if limit is not None else q

    stmt = _stmt(("assigned", kind, limit is not None), build)
    return _run(db, stmt, _params(orgs, kind=kind, month=month, lim=limit))


# ------------------------------------------------------------------------------------------------ cards
def pools_and_caps(db: Session, ids: list[int], now: datetime) -> list[tuple]:
    """("p", org, tokens, training, earliest start) over unexpired purchases and ("u", org, assigned tokens,
    assigned training, None) over the users' caps, per org — the rules of services.tokens.pool."""

    def build():
        p, org = Purchase, col(User.org_id)
        now = cast(datetime, bindparam("now"))  # unexpired() is annotated for a datetime; a bound one compares alike
        pools = (select(literal("p"), col(p.org_id), func.sum(p.tokens), func.sum(p.training_tokens),
                        func.min(p.purchased_at))
                 .where(col(p.org_id).in_(bindparam("ids", expanding=True)), unexpired(now)).group_by(col(p.org_id)))
        caps = (select(literal("u"), org, func.sum(User.max_tokens), func.sum(User.max_training_tokens), null())
                .where(org.in_(bindparam("ids", expanding=True))).group_by(org))
        return union_all(pools, caps)

    return _run(db, _stmt(("pools",), build), {"ids": ids, "now": now})


def org_usage(db: Session, ids: list[int], month: date, since: date, today: date,
              pool_from: dict[int, date]) -> list[tuple]:
    """(org, kind, used since `month`, used since the org's pool start, used in [since, today]) from the
    org × kind × day rollup."""
    t = UsageOrgDaily
    org, kind, day, billed = col(t.org_id), col(t.kind), col(t.day), col(t.billed_tokens)
    lowest = min([month, since, *pool_from.values()])
    if len(ids) == 1:
        def build():
            return (select(org, kind, func.sum(case((day >= bindparam("month"), billed), else_=0)),
                           func.sum(case((day >= bindparam("pool"), billed), else_=0)),
                           func.sum(case(((day >= bindparam("since")) & (day <= bindparam("today")), billed),
                                         else_=0)))
                    .where(org == bindparam("org"), day >= bindparam("lowest")).group_by(org, kind))

        params = {"org": ids[0], "month": month, "pool": pool_from.get(ids[0]), "since": since, "today": today,
                  "lowest": lowest}
        return _run(db, _stmt(("org_usage",), build), params)
    pool = case(pool_from, value=t.org_id)  # several orgs: built per call; no pool anywhere: nothing used of one
    pool_used = func.sum(case((day >= pool, billed), else_=0)) if pool_from else literal(0)
    stmt = (select(org, kind, func.sum(case((day >= month, billed), else_=0)), pool_used,
                   func.sum(case(((day >= since) & (day <= today), billed), else_=0)))
            .where(org.in_(ids), day >= lowest).group_by(org, kind))
    return _run(db, stmt, {})
