"""CSV exports: chart data, per-user usage, raw usage events, activity logs.

Every text cell that a spreadsheet would run as a formula (starting with = + - @, tab or CR) gets a leading
apostrophe. Small exports are built in memory; large ones run as an export *job*: rows are streamed in
keyset chunks into a file under the export directory, with progress, a cancel flag and an owner. Job state
lives next to the file (`<id>.json`, `<id>.cancel`) so any worker process on the machine sees it; only the
user who started a job can read its file. The file reaches that user's browser over plain HTTP, streamed
from disk (never through the websocket): the page asks for a download link — a random token bound to the
job, single use, valid DOWNLOAD_SECONDS, only its SHA-256 kept in `<id>.dl` — and the backend route
`/downloads/<id>?token=…` (admin_panel/api/downloads.py) hands the file out once for it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import pandas as pd
from sqlalchemy import func, tuple_
from sqlmodel import Session, select

from models import AuditEvent, SignInEvent, UsageDaily, UsageEvent, UsageUserDaily
from services.analytics import activity_logs, statistics
from services.core.actor import Actor
from services.core.errors import Conflict, Invalid, NotFound

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 10_000
MAX_ROWS = int(os.environ.get("STEWARD_EXPORT_MAX_ROWS", 5_000_000))  # streamed to disk, then over HTTP
KEEP_SECONDS = 3600
DOWNLOAD_SECONDS = 120  # a download link works once, within this time
DOWNLOAD_PREFIX = "/downloads"


def neutralize(value):
    """A text cell that a spreadsheet would evaluate is prefixed with an apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def frame_to_csv(frame: pd.DataFrame) -> bytes:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralize)
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M" if (out[col].dt.hour != 0).any() else "%Y-%m-%d")
    out.columns = [neutralize(str(c)) for c in out.columns]
    return out.to_csv(index=False, lineterminator="\n").encode()


def rows_to_csv(header: list[str], rows: Iterable[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([neutralize(r.get(c, "")) for c in header])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ chart exports
CHARTS = ("over_time", "monthly", "top_users", "models", "assigned", "per_user")


def chart_csv(db: Session, *, actor: Actor, chart: str, flt: statistics.StatsFilter, granularity: str = "day",
              top: int = 10) -> bytes:
    """The data behind one chart (or every user's usage over the range: `per_user`), as CSV."""
    st = statistics
    if chart == "over_time":
        frame = st.usage_over_time(db, actor=actor, flt=flt, granularity=granularity).frame
    elif chart == "monthly":
        frame = st.monthly_by_kind(db, actor=actor, user_id=flt.user_id, model_id=flt.model_id).frame
    elif chart == "top_users":
        frame = st.per_user(db, actor=actor, flt=flt, limit=top).frame
    elif chart == "per_user":
        frame = st.per_user(db, actor=actor, flt=flt, limit=None).frame
    elif chart == "models":
        frame = st.by_model(db, actor=actor, flt=flt).frame
    elif chart == "assigned":
        frame = st.assigned_vs_used(db, actor=actor, kind=flt.kind, limit=None).frame.drop(columns=["billed_tokens"])
    else:
        raise Invalid("Unknown chart.", field="chart")
    return frame_to_csv(frame)


# ------------------------------------------------------------------------------------------------- jobs
def export_dir() -> str:
    path = os.environ.get("STEWARD_EXPORT_DIR") or os.path.join(tempfile.gettempdir(), "steward-exports")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


@dataclass
class Job:
    id: str
    owner_id: int
    filename: str
    status: str = "running"  # running | done | cancelled | failed
    rows: int = 0
    total: int = 0
    message: str = ""
    created: float = 0.0

    @property
    def progress(self) -> int:
        """0–100."""
        if self.status == "done":
            return 100
        return min(99, self.rows * 100 // self.total) if self.total else 0


def _paths(job_id: str) -> tuple[str, str, str]:
    if not isinstance(job_id, str) or not job_id.isalnum() or len(job_id) > 64:
        raise NotFound("Export not found.")
    base = os.path.join(export_dir(), job_id)
    return base + ".csv", base + ".json", base + ".cancel"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _save(job: Job) -> None:
    _, meta, _ = _paths(job.id)
    tmp = meta + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(asdict(job), fh)
    os.replace(tmp, meta)


def _cleanup(now: float) -> None:
    d = export_dir()
    for name in os.listdir(d):
        p = os.path.join(d, name)
        try:
            if now - os.path.getmtime(p) > KEEP_SECONDS:
                os.remove(p)
        except OSError:
            pass


def get_job(job_id: str, *, owner_id: int) -> Job:
    """A job of this owner (someone else's job answers exactly like a missing one)."""
    _, meta, _ = _paths(job_id)
    try:
        with open(meta) as fh:
            job = Job(**json.load(fh))
    except (OSError, ValueError, TypeError):
        raise NotFound("Export not found.") from None
    if job.owner_id != owner_id:
        raise NotFound("Export not found.")
    return job


def cancel(job_id: str, *, owner_id: int) -> Job:
    job = get_job(job_id, owner_id=owner_id)
    if job.status == "running":
        open(_paths(job_id)[2], "w").close()
    return job


def read_file(job_id: str, *, owner_id: int) -> tuple[str, bytes]:
    job = get_job(job_id, owner_id=owner_id)
    if job.status != "done":
        raise Conflict("The export is not ready.")
    with open(_paths(job_id)[0], "rb") as fh:
        return job.filename, fh.read()


def download_link(job_id: str, *, owner_id: int, now: float | None = None) -> tuple[str, str]:
    """(filename, URL path) of a finished job of this owner: a fresh single-use link; earlier ones stop working."""
    job = get_job(job_id, owner_id=owner_id)
    if job.status != "done":
        raise Conflict("The export is not ready.")
    token = secrets.token_urlsafe(32)
    ticket = os.path.join(export_dir(), job.id + ".dl")
    tmp = f"{ticket}.{secrets.token_hex(4)}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        json.dump({"hash": _digest(token), "expires": (now or time.time()) + DOWNLOAD_SECONDS}, fh)
    os.replace(tmp, ticket)
    return job.filename, f"{DOWNLOAD_PREFIX}/{job.id}?token={token}"


def take_download(job_id, token, *, now: float | None = None) -> tuple[str, str]:
    """(filename, file path) for a valid, unused, unexpired link; the link is used up (also across worker
    processes: the ticket file is renamed away, which only one taker can do). Anything else: NotFound."""
    missing = NotFound("This download link is invalid, used or expired. Start the download again from the page.")
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise missing
    try:
        path, meta, _ = _paths(job_id)
    except NotFound:
        raise missing from None
    ticket = os.path.join(export_dir(), job_id + ".dl")
    taken = f"{ticket}.{secrets.token_hex(8)}.taken"
    try:
        with open(ticket) as fh:
            t = json.load(fh)
        if not hmac.compare_digest(t["hash"], _digest(token)) or t["expires"] < (now or time.time()):
            raise missing
        os.rename(ticket, taken)  # only one concurrent taker succeeds
    except (OSError, ValueError, KeyError, TypeError):
        raise missing from None
    try:
        with open(taken) as fh:  # the ticket taken is the one checked (not a newer link's)
            if not hmac.compare_digest(json.load(fh)["hash"], _digest(token)):
                raise missing
        with open(meta) as fh:
            job = Job(**json.load(fh))
    except (OSError, ValueError, KeyError, TypeError):
        raise missing from None
    finally:
        if os.path.exists(taken):
            os.remove(taken)
    if job.status != "done" or not os.path.exists(path):
        raise missing
    return job.filename, path


def store(*, owner_id: int, filename: str, text: str) -> Job:
    """A file built in one go (the user export) kept as a finished job, to hand out with `download_link`."""
    _cleanup(time.time())
    job = Job(id=new_job_id(), owner_id=owner_id, filename=filename, status="done", rows=text.count("\n"),
              total=text.count("\n"), created=time.time())
    path = _paths(job.id)[0]
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", newline="") as fh:
        fh.write(text)
    _save(job)
    return job


def new_job_id() -> str:
    return secrets.token_hex(16)


def run_job(*, owner_id: int, filename: str, header: list[str], total: int,
            chunks: Iterator[list[dict]], on_progress: Callable[[Job], None] | None = None,
            job_id: str | None = None) -> Job:
    """Write the chunks to a new CSV, checking the cancel flag and reporting progress between chunks."""
    _cleanup(time.time())
    job = Job(id=job_id or new_job_id(), owner_id=owner_id, filename=filename, total=total, created=time.time())
    path, meta, flag = _paths(job.id)
    _save(job)
    try:
        with open(path, "w", newline="") as fh:
            fh.write(",".join(neutralize(h) for h in header) + "\n")
            for rows in chunks:
                if os.path.exists(flag):
                    job.status, job.message = "cancelled", "Export cancelled."
                    break
                fh.write(rows_to_csv(header, rows))
                job.rows += len(rows)
                _save(job)
                if on_progress:
                    on_progress(job)
            else:
                job.status, job.message = "done", f"{job.rows:,} rows exported."
    except Exception as e:  # noqa: BLE001 — the job records what went wrong; the page shows it
        job.status, job.message = "failed", getattr(e, "message", "The export failed.")
    if job.status != "done" and os.path.exists(path):
        os.remove(path)
    for p in (flag,):
        if os.path.exists(p):
            os.remove(p)
    _save(job)
    if on_progress:
        on_progress(job)
    return job


# ------------------------------------------------------------------------------------ streamed row sources
def _count_usage(db: Session, org_id: int | None, flt: activity_logs.LogFilter) -> int:
    """Rows a raw usage export will hold, from the rollups when the filter allows (cheap), else COUNT."""
    if flt.start and flt.end and flt.user_id is None:
        t = UsageDaily
        q = select(func.coalesce(func.sum(t.events), 0)).where(t.day >= flt.start, t.day <= flt.end)
        if org_id is not None:
            q = q.where(t.org_id == org_id)
        if flt.kind:
            q = q.where(t.kind == flt.kind)
        if flt.model_id is not None:
            q = q.where(t.model_id == flt.model_id)
        return int(db.exec(q).one())
    if flt.start and flt.end and flt.model_id is None:
        t = UsageUserDaily
        q = select(func.coalesce(func.sum(t.events), 0)).where(t.day >= flt.start, t.day <= flt.end,
                                                                t.user_id == flt.user_id)
        if flt.kind:
            q = q.where(t.kind == flt.kind)
        return int(db.exec(q).one())
    sub = activity_logs.usage_query(org_id, flt).subquery()
    return int(db.exec(select(func.count()).select_from(sub)).one())


def _count(db: Session, tab: str, org_id: int | None, flt: activity_logs.LogFilter) -> int:
    if tab == "usage":
        return _count_usage(db, org_id, flt)
    q = activity_logs.signin_query(org_id, flt) if tab == "signins" else activity_logs.audit_query(org_id, flt, "")
    return int(db.exec(select(func.count()).select_from(q.subquery())).one())


def _org_for(db: Session, actor: Actor, tab: str) -> int | None:
    """Raw usage is also the Statistics page's export (finance may read it); the other logs need admin rights."""
    if tab not in activity_logs.TABS:
        raise Invalid("Unknown log.", field="tab")
    if tab == "usage":
        scope = statistics.resolve_scope(db, actor, "export usage")
        return None if scope.org_ids is None else scope.org_ids[0]
    return activity_logs._scope(db, actor)


@dataclass
class LogExport:
    tab: str
    filename: str
    header: list[str]
    total: int


def plan_log_export(db: Session, *, actor: Actor, tab: str, flt: activity_logs.LogFilter) -> LogExport:
    """Check rights, count the rows and refuse exports above the limit before anything is written."""
    org_id = _org_for(db, actor, tab)
    total = _count(db, tab, org_id, flt)
    if total > MAX_ROWS:
        raise Invalid(f"This export would hold {total:,} rows; the limit is {MAX_ROWS:,}. Narrow the date range "
                      "or add a filter.")
    cols = {"usage": activity_logs.USAGE_COLUMNS, "signins": activity_logs.SIGNIN_COLUMNS,
            "audit": activity_logs.AUDIT_COLUMNS}
    header = (["org"] if org_id is None else []) + cols[tab]
    name = {"usage": "usage-events", "signins": "sign-ins", "audit": "audit-trail"}[tab]
    return LogExport(tab, f"{name}_{flt.start or 'start'}_{flt.end or 'now'}.csv", header, total)


def log_chunks(session_factory, *, actor: Actor, tab: str, flt: activity_logs.LogFilter,
               chunk: int = CHUNK) -> Iterator[list[dict]]:
    """Rows of one log in keyset chunks, each chunk read in its own short read transaction."""
    with session_factory() as db:
        org_id = _org_for(db, actor, tab)
    cursor = None
    e, s, a = UsageEvent, SignInEvent, AuditEvent
    while True:
        with session_factory() as db:
            if tab == "usage":
                q = activity_logs.usage_query(org_id, flt)
                keys, rows_of, key = [e.occurred_at, e.id], activity_logs.usage_rows, (lambda r: (r[1], r[0]))
            elif tab == "signins":
                q = activity_logs.signin_query(org_id, flt)
                keys, rows_of, key = [s.created_at, s.id], activity_logs.signin_rows, (lambda r: (r[1], r[0]))
            else:
                q = activity_logs.audit_query(org_id, flt, "")
                keys, rows_of, key = [a.seq], activity_logs.audit_rows, (lambda r: (None, r[1]))
            if cursor is not None:
                q = q.where(tuple_(*keys) < tuple_(*cursor) if len(keys) == 2 else keys[0] < cursor[1])
            rows = db.exec(q.order_by(*[k.desc() for k in keys]).limit(chunk)).all()
            if not rows:
                return
            yield rows_of(db, rows, org_id is None)
            cursor = key(rows[-1])
