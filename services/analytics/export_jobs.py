"""Export jobs: large CSV exports written to a file under the export directory, and their downloads.

Rows are streamed in chunks (log_exports.py) into the file, with progress, a cancel flag and an owner. Job state
lives next to the file (`<id>.json`, `<id>.cancel`) so any worker process on the machine sees it; only the
user who started a job can read its file. The file reaches that user's browser over plain HTTP, streamed
from disk (never through the websocket): the page asks for a download link — a random token bound to the
job, single use, valid DOWNLOAD_SECONDS, only its SHA-256 kept in `<id>.dl` — and the backend route
`/downloads/<id>?token=…` (admin_panel/api/downloads.py) hands the file out once for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from services.analytics.csv_files import neutralize, rows_to_csv
from services.core.errors import Conflict, NotFound

KEEP_SECONDS = 3600
DOWNLOAD_SECONDS = 120  # a download link works once, within this time
DOWNLOAD_PREFIX = "/downloads"


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
