"""Build a benchmark database: one big org with N usage events (default 10 million, one year, 2,000 users,
8 models) plus a small second org, M audit entries (default 1 million, a valid hash chain) and sign-ins.

    python -m bench.generate --url sqlite:///bench.db            # BENCH_EVENTS / BENCH_AUDIT override sizes
    python -m bench.generate --url postgresql+psycopg://postgres@127.0.0.1:5432/steward_h_bench --events 1000000

The ledger is written with COPY (PostgreSQL) or executemany (SQLite) and every rollup (services/usage/rollups.py) is
computed from the same generated arrays, so ledger and rollups agree exactly (`--check` compares them).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.core.audit import GENESIS
from services.core.db import make_engine
from services.ops.migrate import upgrade
from services.orgs.catalog import DEFAULT_MODELS

UTC = UTC
CHUNK = 500_000
EXTRA_MODELS = (("command-r-plus", "Cohere", 600, 1800),)
UNUSED_MODEL = ("unused-model", "Bench", 1000, 1000)  # in the catalog, never in the ledger (empty log filters)
RARE_MODEL_SHARE = 0.002  # the last model (command-r-plus) serves 0.2 % of the events: a sparse log filter
ACTIONS = ("user.update", "allocation.set", "user.ban", "user.unban", "request.approve", "request.deny",
           "policy.update", "user.create", "distribution.run", "user.role")


def _fresh(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(u.database + suffix):
                os.remove(u.database + suffix)
    else:
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        eng.dispose()
    upgrade(url)


def _ts(values: np.ndarray, pg: bool) -> pd.Series:
    """datetime64[us] → the text each database stores (SQLite: naive UTC; PostgreSQL: with +00)."""
    s = pd.Series(values).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    return s + "+00" if pg else s


class Loader:
    def __init__(self, url: str):
        self.url = url
        self.pg = make_url(url).get_backend_name() != "sqlite"
        if self.pg:
            import psycopg

            u = make_url(url)
            self.conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database)
        else:
            self.conn = sqlite3.connect(make_url(url).database)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("PRAGMA cache_size=-1000000")

    def load(self, table: str, df: pd.DataFrame) -> None:
        cols = list(df.columns)
        if self.pg:
            buf = io.StringIO()
            df.to_csv(buf, index=False, header=False, na_rep="\\N")
            with self.conn.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
                cp.write(buf.getvalue())
        else:
            marks = ", ".join("?" for _ in cols)
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                                  df.itertuples(index=False, name=None))
        self.conn.commit()

    def execute(self, sql: str, params=()) -> list:
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", "%s") if self.pg else sql, params)
        rows = cur.fetchall() if cur.description else []
        self.conn.commit()
        return rows


def _setup(ld: Loader, now: datetime, users: int) -> dict:
    pg = ld.pg
    nowt = now.strftime("%Y-%m-%d %H:%M:%S.%f") + ("+00" if pg else "")
    models = list(DEFAULT_MODELS) + list(EXTRA_MODELS)
    ld.load("ai_model", pd.DataFrame([
        {"id": i + 1, "name": n, "provider": p, "prompt_rate_milli": pr, "completion_rate_milli": cr,
         "enabled": True} for i, (n, p, pr, cr) in enumerate(models + [UNUSED_MODEL])]))  # the last: never used
    ld.load("organization", pd.DataFrame([
        {"id": 1, "name": "Bench Corp", "billing_address": "", "contact_name": "", "email": "", "phone": "",
         "country": "", "email_domain": "bench.test", "created_at": nowt},
        {"id": 2, "name": "Other Org", "billing_address": "", "contact_name": "", "email": "", "phone": "",
         "country": "", "email_domain": "other.test", "created_at": nowt}]))
    year_ago = (now - timedelta(days=370)).strftime("%Y-%m-%d %H:%M:%S.%f") + ("+00" if pg else "")
    next_year = (now + timedelta(days=300)).strftime("%Y-%m-%d %H:%M:%S.%f") + ("+00" if pg else "")
    ld.load("purchase", pd.DataFrame([
        {"id": 1, "org_id": 1, "purchased_at": year_ago, "payer_email": "", "comment": "",
         "tokens": 200_000_000_000, "training_tokens": 20_000_000_000, "expires_at": next_year},
        {"id": 2, "org_id": 2, "purchased_at": year_ago, "payer_email": "", "comment": "",
         "tokens": 2_000_000, "training_tokens": 0, "expires_at": next_year}]))
    rng = np.random.default_rng(7)
    rows = []
    for i in range(users):
        role = "admin" if i == 0 else ("finance" if i == 1 else "member")
        rows.append({"id": i + 1, "email": f"user{i:05d}@bench.test", "name": f"User {i:05d}", "role": role,
                     "org_id": 1, "paid": True, "banned": False, "ban_reason": "", "verified": True,
                     "mfa_enabled": False, "max_tokens": int(rng.integers(1, 50)) * 1_000_000,
                     "max_training_tokens": int(rng.integers(0, 5)) * 1_000_000, "pinned": False,
                     "excluded_from_automation": False, "created_at": nowt})
    for j in range(5):
        rows.append({"id": users + j + 1, "email": f"user{j}@other.test", "name": f"Other {j}", "role": "member",
                     "org_id": 2, "paid": True, "banned": False, "ban_reason": "", "verified": True,
                     "mfa_enabled": False, "max_tokens": 200_000, "max_training_tokens": 0, "pinned": False,
                     "excluded_from_automation": False, "created_at": nowt})
    ld.load("app_user", pd.DataFrame(rows))
    if pg:
        for t in ("ai_model", "organization", "purchase", "app_user"):
            ld.execute(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))")
    rates = np.array([[0, 0]] + [[m[2], m[3]] for m in models], dtype=np.int64)
    return {"rates": rates, "n_models": len(models)}


def _usage(ld: Loader, n: int, users: int, rates: np.ndarray, n_models: int, now: datetime) -> None:
    rng = np.random.default_rng(11)
    start = np.datetime64((now - timedelta(days=365)).replace(tzinfo=None), "us")
    span_us = 365 * 86_400 * 1_000_000
    weights = rng.pareto(1.5, users) + 0.1  # a few heavy users
    weights /= weights.sum()
    acc: dict[str, list[pd.DataFrame]] = {k: [] for k in ("daily", "hourly", "umonth", "uday", "oday", "mmonth",
                                                           "umonth_total", "uyear_total")}
    offsets = np.sort(rng.integers(0, span_us, n))  # the ledger is appended in time order
    model_share = np.full(n_models, 1.0)
    model_share[-1] = RARE_MODEL_SHARE * (n_models - 1) / (1 - RARE_MODEL_SHARE)  # the last model: rare
    model_share /= model_share.sum()
    done = 0
    while done < n:
        m = min(CHUNK, n - done)
        when = start + offsets[done:done + m].astype("timedelta64[us]")
        user = rng.choice(users, m, p=weights) + 1
        model = rng.choice(n_models, m, p=model_share) + 1
        kind = np.where(model == 7, "training", np.where(rng.random(m) < 0.05, "training", "tokens"))
        prompt = rng.integers(10, 4000, m)
        completion = np.where(model == 7, 0, rng.integers(0, 2000, m))
        billed = -(-(prompt * rates[model, 0] + completion * rates[model, 1]) // 1000)
        ids = np.arange(done + 1, done + m + 1)
        pg = ld.pg
        df = pd.DataFrame({
            "id": ids, "idempotency_key": "b-" + pd.Series(ids).astype(str), "org_id": 1, "user_id": user,
            "model_id": model, "kind": kind, "prompt_tokens": prompt, "completion_tokens": completion,
            "billed_tokens": billed, "occurred_at": _ts(when, pg),
            "ip": "10.0." + pd.Series(user // 250).astype(str) + "." + pd.Series(user % 250).astype(str),
            "recorded_at": _ts(when, pg)})
        ld.load("usage_event", df)
        ts = pd.Series(when)
        g = pd.DataFrame({"org_id": 1, "user_id": user, "model_id": model, "kind": kind, "prompt_tokens": prompt,
                          "completion_tokens": completion, "billed_tokens": billed, "events": 1,
                          "day": ts.dt.floor("D"), "hour": ts.dt.floor("h"),
                          "month": ts.dt.to_period("M").dt.to_timestamp(),
                          "year": ts.dt.to_period("Y").dt.to_timestamp()})
        tok = g["kind"] == "tokens"
        g["tokens"], g["training"] = np.where(tok, billed, 0), np.where(tok, 0, billed)
        g["tokens_events"], g["training_events"] = tok.astype(int), (~tok).astype(int)
        sums = ["prompt_tokens", "completion_tokens", "billed_tokens", "events"]
        totals = ["tokens", "training", "tokens_events", "training_events"]
        acc["daily"].append(g.groupby(["org_id", "model_id", "kind", "day"], as_index=False)[sums].sum())
        acc["hourly"].append(g.groupby(["org_id", "kind", "hour"], as_index=False)[sums[2:]].sum())
        acc["umonth"].append(g.groupby(["org_id", "user_id", "kind", "month"], as_index=False)[sums[2:]].sum())
        acc["uday"].append(g.groupby(["org_id", "user_id", "kind", "day"], as_index=False)[sums[2:]].sum())
        acc["oday"].append(g.groupby(["org_id", "kind", "day"], as_index=False)[sums[2:]].sum())
        acc["mmonth"].append(g.groupby(["org_id", "model_id", "kind", "month"], as_index=False)[sums].sum())
        acc["umonth_total"].append(g.groupby(["org_id", "user_id", "month"], as_index=False)[totals].sum())
        acc["uyear_total"].append(g.groupby(["org_id", "user_id", "year"], as_index=False)[totals].sum())
        done += m
        print(f"  usage {done:,}/{n:,}", flush=True)
    pg = ld.pg
    spec = {"daily": ("usage_daily", ["org_id", "model_id", "kind", "day"], "day"),
            "hourly": ("usage_hourly", ["org_id", "kind", "hour"], "hour"),
            "umonth": ("usage_user_monthly", ["org_id", "user_id", "kind", "month"], "month"),
            "uday": ("usage_user_daily", ["org_id", "user_id", "kind", "day"], "day"),
            "oday": ("usage_org_daily", ["org_id", "kind", "day"], "day"),
            "mmonth": ("usage_monthly", ["org_id", "model_id", "kind", "month"], "month"),
            "umonth_total": ("usage_user_month_total", ["org_id", "user_id", "month"], "month"),
            "uyear_total": ("usage_user_year_total", ["org_id", "user_id", "year"], "year")}
    for key, (table, keys, tcol) in spec.items():
        frame = pd.concat(acc[key]).groupby(keys, as_index=False).sum()
        if tcol == "hour":
            frame[tcol] = _ts(frame[tcol].values, pg)
        else:
            frame[tcol] = frame[tcol].dt.strftime("%Y-%m-%d")
        ld.load(table, frame)
        print(f"  {table}: {len(frame):,} rows", flush=True)
    if pg:
        ld.execute("SELECT setval(pg_get_serial_sequence('usage_event', 'id'), (SELECT max(id) FROM usage_event))")


def _audit(ld: Loader, n: int, users: int, now: datetime) -> None:
    rng = np.random.default_rng(5)
    start = now - timedelta(days=365)
    step = timedelta(days=365) / max(n, 1)
    prev = GENESIS
    rows = []
    actors = rng.integers(1, 3, n)  # the admin (1) or … user 2 acts; targets are members
    targets = rng.integers(3, users + 1, n)
    acts = rng.integers(0, len(ACTIONS), n)
    amounts = rng.integers(1, 100, n) * 100_000
    for i in range(n):
        seq = i + 1
        created = start + step * i
        action = ACTIONS[acts[i]]
        before = {"max_tokens": int(amounts[i])}
        after = {"max_tokens": int(amounts[(i + 1) % n])}
        payload = {"seq": seq, "created_at": created.isoformat(timespec="microseconds"),
                   "actor_id": int(actors[i]), "actor_email": f"user{actors[i] - 1:05d}@bench.test", "org_id": 1,
                   "action": action, "target_type": "user", "target_id": str(int(targets[i])), "before": before,
                   "after": after, "ip": "10.1.0.1"}
        h = hashlib.sha256((prev + json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str))
                           .encode()).hexdigest()
        rows.append((i + 1, seq, created, payload["actor_id"], payload["actor_email"], 1, action, "user",
                     payload["target_id"], json.dumps(before), json.dumps(after), "10.1.0.1", prev, h))
        prev = h
        if len(rows) == CHUNK or i == n - 1:
            df = pd.DataFrame(rows, columns=["id", "seq", "created_at", "actor_id", "actor_email", "org_id",
                                             "action", "target_type", "target_id", "before", "after", "ip",
                                             "prev_hash", "hash"])
            df["created_at"] = _ts(pd.to_datetime(df["created_at"]).dt.tz_localize(None).values, ld.pg)
            ld.load("audit_event", df)
            rows = []
            print(f"  audit {i + 1:,}/{n:,}", flush=True)
    ld.load("audit_head", pd.DataFrame([{"id": 1, "seq": n, "hash": prev}]))
    if ld.pg and n:
        ld.execute("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), (SELECT max(id) FROM audit_event))")


def _sign_ins(ld: Loader, n: int, users: int, now: datetime) -> None:
    rng = np.random.default_rng(3)
    start = np.datetime64((now - timedelta(days=365)).replace(tzinfo=None), "us")
    when = start + np.sort(rng.integers(0, 365 * 86_400 * 1_000_000, n)).astype("timedelta64[us]")
    user = rng.integers(1, users + 1, n)
    ok = rng.random(n) > 0.1
    df = pd.DataFrame({"id": np.arange(1, n + 1), "created_at": _ts(when, ld.pg), "user_id": user, "org_id": 1,
                       "email": [f"user{u - 1:05d}@bench.test" for u in user], "ip": "10.2.0.1",
                       "user_agent": "bench", "success": ok, "reason": np.where(ok, "", "bad_password")})
    if not ld.pg:
        df["success"] = df["success"].astype(int)
    ld.load("sign_in_event", df)


ROLLUP_TOTALS = {"usage_daily": ("billed_tokens", "events"), "usage_hourly": ("billed_tokens", "events"),
                 "usage_user_monthly": ("billed_tokens", "events"), "usage_user_daily": ("billed_tokens", "events"),
                 "usage_org_daily": ("billed_tokens", "events"), "usage_monthly": ("billed_tokens", "events"),
                 "usage_user_month_total": ("tokens + training", "tokens_events + training_events"),
                 "usage_user_year_total": ("tokens + training", "tokens_events + training_events")}


def check(ld: Loader) -> bool:
    """Every rollup's per-org totals (billed tokens, events) equal the ledger's (tests/services/test_bench_generate.py
    checks every bucket on a small database)."""
    want = {o: (int(b), int(n)) for o, b, n in ld.execute(
        "SELECT org_id, sum(billed_tokens), count(*) FROM usage_event GROUP BY org_id")}
    ok = True
    for table, (billed, events) in ROLLUP_TOTALS.items():
        got = {o: (int(b), int(n)) for o, b, n in ld.execute(
            f"SELECT org_id, sum({billed}), sum({events}) FROM {table} GROUP BY org_id")}
        print(f"  check {table}: {'ok' if got == want else f'MISMATCH {got} != {want}'}", flush=True)
        ok &= got == want
    return ok


def _sync_sequences(ld: Loader) -> None:
    """PostgreSQL: every id sequence past the ids COPY wrote, so the app can insert afterwards (sign-ins…)."""
    for (table,) in ld.execute("SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                               "AND column_name = 'id' AND left(column_default, 7) = 'nextval'"):
        ld.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) "
                   f"FROM {table}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 10_000_000)))
    p.add_argument("--audit", type=int, default=int(os.environ.get("BENCH_AUDIT", 1_000_000)))
    p.add_argument("--sign-ins", type=int, default=int(os.environ.get("BENCH_SIGN_INS", 200_000)))
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--check", action="store_true", help="compare every rollup's totals with the ledger at the end")
    a = p.parse_args(argv)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t0 = time.perf_counter()
    _fresh(a.url)
    ld = Loader(a.url)
    meta = _setup(ld, now, a.users)
    _usage(ld, a.events, a.users, meta["rates"], meta["n_models"], now)
    print(f"usage done in {time.perf_counter() - t0:.0f} s", flush=True)
    _audit(ld, a.audit, a.users, now)
    _sign_ins(ld, a.sign_ins, a.users, now)
    if ld.pg:
        _sync_sequences(ld)
        ld.conn.autocommit = True
        ld.conn.execute("VACUUM ANALYZE")
    else:
        ld.conn.execute("ANALYZE")
    print(f"built {a.events:,} usage events, {a.audit:,} audit entries, {a.sign_ins:,} sign-ins "
          f"in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0 if not a.check or check(ld) else 1


if __name__ == "__main__":
    raise SystemExit(main())
