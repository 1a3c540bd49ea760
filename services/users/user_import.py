"""Adding users: one by one (a form) or from a CSV file, each new user with an invitation link.

The CSV has exactly the columns email, name, role, max_tokens, max_train_tokens (any order, a header row,
UTF-8). Every row gets a result: created (with its invitation link), exists (an account with that e-mail is
already there: nothing changes, so re-running a file is harmless) or invalid (with the reason). A big file is
imported in batches of BATCH_ROWS, each its own transaction (`import_rows`), so other admins are never
blocked for long; each row runs in a savepoint, so one bad row never undoes the others.
"""

import io
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import Role, User, utcnow
from models.base import stored_id
from models.dto import Result
from services.core import audit, validation
from services.core.actor import Actor
from services.core.errors import Conflict, DomainError, Invalid
from services.core.permissions import MANAGE, require_role, scoped_org_id
from services.users import accounts, invitations

COLUMNS = ("email", "name", "role", "max_tokens", "max_train_tokens")
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
BATCH_ROWS = 100
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CREATED, EXISTS, INVALID = "created", "exists", "invalid"


@dataclass
class Added:
    user_id: int
    email: str
    name: str
    role: str
    max_tokens: int
    max_training_tokens: int
    link: str


@dataclass
class RowResult:
    row: int
    email: str
    status: str
    reason: str = ""
    link: str = ""


@dataclass
class ImportBatch:
    results: list[RowResult] = field(default_factory=list)
    invites: list[invitations.Invite] = field(default_factory=list)


def no_formula(value, fld: str) -> None:
    """Refuse text a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        label = fld.replace("_", " ").capitalize()
        raise Invalid(f"{label} must not start with = + - @ or a tab (spreadsheet formula).", field=fld)


def add_user(session: Session, *, actor: Actor, email, name="", role=Role.member.value, max_tokens=None,
             max_train_tokens=None, now: datetime | None = None, audit_later: list | None = None) -> Result[Added]:
    """Create one user in the actor's org with an invitation link (`Result.value` is an `Added`)."""
    require_role(actor, MANAGE, "add users")
    for value, fld in ((email, "email"), (name, "name")):
        no_formula(value, fld)
    if not isinstance(role, str):
        raise Invalid("Choose a role.", field="role")
    if role.strip().lower() == Role.super_admin.value and actor.is_super:
        raise Invalid("Super admins are not members of an organization; add them from the command line.",
                      field="role")
    result = accounts.create_user(session, actor=actor, email=email, name=name, role=role.strip().lower(),
                               org_id=actor.org_id, max_tokens=max_tokens, max_training_tokens=max_train_tokens,
                               audit_later=audit_later)
    user = result.value
    invite = invitations.issue(session, user, created_by=actor.user_id, now=now, new_user=True)
    return Result(Added(stored_id(user), user.email, user.name, user.role, user.max_tokens, user.max_training_tokens,
                        invite.link), result.warnings)


def form_roles(actor: Actor) -> list[str]:
    """The roles the add-user form offers this actor (the ones it may grant inside an organization)."""
    return [r for r in accounts.grantable_roles(actor) if r != Role.super_admin.value]


# ------------------------------------------------------------------------------------------------ parsing
def parse_csv(data) -> list[dict]:
    """The rows of an uploaded CSV as dicts of text (plus "row", the line number). Raises Invalid for a file
    that cannot be imported at all: too big, empty, not UTF-8, not CSV, wrong columns, too many rows."""
    if not isinstance(data, (bytes, bytearray)):
        raise Invalid("Upload a CSV file.", field="file")
    if len(data) > MAX_IMPORT_BYTES:
        raise Invalid(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB. Split it into smaller "
                      f"files.", field="file")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Invalid(f"The file is not UTF-8 text (byte {e.start + 1}). Save it as 'CSV UTF-8' and try again.",
                      field="file") from None
    if "\x00" in text:
        raise Invalid("The file is not a text CSV file.", field="file")
    if not text.strip():
        raise Invalid("The file is empty.", field="file")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        detail = str(e).strip().splitlines()[-1][:200] if str(e).strip() else "unreadable"
        raise Invalid(f"The file is not a valid CSV: {detail}", field="file") from None
    names = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in names]
    unknown = [c for c in names if c not in COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unexpected {', '.join(n[:40] for n in unknown[:5])}")
        if not parts:
            parts.append("a column appears twice")
        raise Invalid(f"Wrong columns ({'; '.join(parts)}). The header must be exactly: {','.join(COLUMNS)}.",
                      field="file")
    if len(frame) > MAX_IMPORT_ROWS:
        raise Invalid(f"The file has {len(frame):,} rows; at most {MAX_IMPORT_ROWS:,} can be imported at once.",
                      field="file")
    if len(frame) == 0:
        raise Invalid("The file has a header but no rows.", field="file")
    frame.columns = names
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        rows.append({"row": i + 2, **{c: ("" if rec[c] is None else str(rec[c])) for c in COLUMNS}})
    return rows


# ------------------------------------------------------------------------------------------------ import
def _cell(raw: dict, name: str) -> str:
    value = raw.get(name, "") if isinstance(raw, dict) else ""
    return value if isinstance(value, str) else ""


def _row_number(raw) -> int:
    n = raw.get("row") if isinstance(raw, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) else 0


def import_rows(session: Session, *, actor: Actor, rows, now: datetime | None = None) -> ImportBatch:
    """Import one batch of parsed rows into the actor's org. Never raises for a bad row."""
    require_role(actor, MANAGE, "import users")
    scoped_org_id(session, actor, actor.org_id)
    if not isinstance(rows, list) or len(rows) > BATCH_ROWS * 4:
        raise Invalid(f"Import at most {BATCH_ROWS * 4} rows per batch.", field="rows")
    now = now or utcnow()
    wanted = []
    for raw in rows:
        addr = _cell(raw, "email").strip().lower()
        if addr and len(addr) <= 320:
            wanted.append(addr)
    existing = set(session.exec(select(User.email).where(col(User.email).in_(wanted))).all()) if wanted else set()
    out = ImportBatch()
    pending_audit: list = []  # written at the end: the audit chain's lock is then held only briefly
    for raw in rows:
        n, shown = _row_number(raw), _cell(raw, "email").strip()[:320]
        try:
            for name in ("email", "name", "role"):
                no_formula(_cell(raw, name), name)
            email = validation.email(_cell(raw, "email"))
        except Invalid as e:
            out.results.append(RowResult(n, shown, INVALID, e.message))
            continue
        if email in existing:
            out.results.append(RowResult(n, email, EXISTS, "A user with this e-mail already exists."))
            continue
        role = _cell(raw, "role").strip().lower() or Role.member.value
        entries: list = []
        try:
            with session.begin_nested():
                res = add_user(session, actor=actor, email=email, name=_cell(raw, "name"), role=role,
                               max_tokens=_cell(raw, "max_tokens").strip() or None,
                               max_train_tokens=_cell(raw, "max_train_tokens").strip() or None, now=now,
                               audit_later=entries)
        except (Conflict, IntegrityError):
            existing.add(email)
            out.results.append(RowResult(n, email, EXISTS, "A user with this e-mail already exists."))
            continue
        except DomainError as e:
            out.results.append(RowResult(n, email, INVALID, e.message))
            continue
        existing.add(email)
        pending_audit.extend(entries)
        added = res.value
        out.results.append(RowResult(n, email, CREATED, " ".join(res.warnings), added.link))
        out.invites.append(invitations.Invite(added.email, added.name, added.link))
    for args, kw in pending_audit:
        audit.record(session, actor, *args, **kw)
    return out
