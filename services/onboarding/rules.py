"""The enterprise rules of an onboarding request, checked field by field (live as the requester types, again
at review time and at activation). Every rule gives a message a person can act on; nothing is stored here.

Rules (settings in services/core/settings.py): at least MIN_USERS users and MIN_ADMINS admins, every admin also
listed as a user, every e-mail registered, nobody already in an organization, requested tokens at least
MIN_TOKENS_PER_USER per user and in multiples of PURCHASE_MULTIPLE, no duplicate or malformed e-mails, at
most ONBOARDING_MAX_EMAILS e-mails per list, an organization name nobody uses.
"""

import re
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import EnterpriseRequest, EnterpriseStatus, Organization, Role, User
from services.core import settings, validation
from services.core.errors import Invalid

FIELDS = ("org_name", "billing_address", "user_emails", "admin_emails", "tokens", "training_tokens", "notes")
OPEN = (EnterpriseStatus.pending.value, EnterpriseStatus.awaiting_payment.value)
_SPLIT = re.compile(r"[\s,;]+")
SHOWN = 10  # e-mails named in one message before "and N more"


def names(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN:,} more" if len(items) > SHOWN else "")


def is_registered(user: User) -> bool:
    """An account its owner has set up (an invited account counts once the invitation is accepted)."""
    return user.password_hash is not None or user.verified


@dataclass
class Check:
    """Per-field messages plus the cleaned values. `ok` when no field has a message."""

    messages: dict[str, list[str]] = field(default_factory=lambda: {f: [] for f in FIELDS})
    unregistered: list[str] = field(default_factory=list)  # no account at all: invite them
    invited: list[str] = field(default_factory=list)  # invited, has not registered yet
    org_name: str = ""
    billing_address: str = ""
    user_emails: list[str] = field(default_factory=list)
    admin_emails: list[str] = field(default_factory=list)
    tokens: int = 0
    training_tokens: int = 0
    notes: str = ""

    @property
    def ok(self) -> bool:
        return not any(self.messages.values())

    def add(self, fld: str, message: str) -> None:
        self.messages[fld].append(message)

    def first_error(self) -> Invalid:
        for f in FIELDS:
            if self.messages[f]:
                return Invalid(self.messages[f][0], field=f)
        return Invalid("The request is not valid.")

    def summary(self) -> str:
        return " ".join(m for f in FIELDS for m in self.messages[f])


def parse_emails(raw, label: str) -> tuple[list[str], list[str]]:
    """(unique normalized e-mails in entry order, messages). Accepts text (any separators) or a list."""
    limit = settings.ONBOARDING_MAX_EMAILS
    if raw is None:
        raw = ""
    if isinstance(raw, list):
        if len(raw) > limit or not all(isinstance(x, str) for x in raw):
            return [], [f"At most {limit:,} e-mail addresses per list."] if len(raw) > limit else \
                [f"{label} must be e-mail addresses."]
        raw = "\n".join(raw)
    if not isinstance(raw, str):
        return [], [f"{label} must be e-mail addresses."]
    if len(raw) > limit * 322:  # more text than `limit` addresses can take: do not even split it
        return [], [f"That is too much text: at most {limit:,} e-mail addresses per list."]
    parts = [p for p in _SPLIT.split(raw) if p]
    if len(parts) > limit:
        return [], [f"You entered {len(parts):,} e-mail addresses; at most {limit:,} fit in one request. "
                    "Send the rest in a note or a second request after activation."]
    out, seen, bad, dupes = [], set(), [], []
    for p in parts:
        try:
            e = validation.email(p)
        except Invalid:
            bad.append(p[:80])
            continue
        if e in seen:
            if e not in dupes:
                dupes.append(e)
            continue
        seen.add(e)
        out.append(e)
    msgs = []
    if bad:
        msgs.append(f"Not valid e-mail addresses: {names(bad)}.")
    if dupes:
        msgs.append(f"Listed more than once: {names(dupes)}.")
    return out, msgs


def _amount(raw, fld: str, check: Check, *, required: bool) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            check.add(fld, "Enter the number of tokens to buy.")
            return None
        return 0
    try:
        return validation.token_amount(raw, fld)
    except Invalid as e:
        check.add(fld, e.message)
        return None


def _multiple(value: int, fld: str, label: str, check: Check) -> None:
    step = settings.PURCHASE_MULTIPLE
    if value % step:
        lo = value // step * step
        hint = f"{lo:,} or {lo + step:,}" if lo else f"{step:,}"
        check.add(fld, f"{label} are sold in multiples of {step:,}: {value:,} is not one (try {hint}).")


def _text(data: dict, fld: str, check: Check, *, max_len: int, required: bool = False) -> str:
    try:
        return validation.text(data.get(fld), fld, max_len=max_len, required=required)
    except Invalid as e:
        check.add(fld, e.message.replace("Org name", "Organization name"))
        return ""


def check_request(session: Session, data, *, request_id: int | None = None) -> Check:
    """Run every rule on the form values `data` (a dict of FIELDS). `request_id`: the request being
    reviewed (its own name does not clash with itself)."""
    check = Check()
    if not isinstance(data, dict):
        check.add("org_name", "The form is malformed.")
        return check
    check.org_name = _text(data, "org_name", check, max_len=200, required=True)
    check.billing_address = _text(data, "billing_address", check, max_len=500, required=True)
    check.notes = _text(data, "notes", check, max_len=2000)
    if check.org_name:
        taken = session.exec(select(Organization.id).where(
            func.lower(Organization.name) == check.org_name.lower())).first()
        if taken is not None:
            check.add("org_name", f"An organization named '{check.org_name}' already exists. Choose another name.")
        else:
            q = select(EnterpriseRequest.id).where(func.lower(EnterpriseRequest.org_name) == check.org_name.lower(),
                                                   col(EnterpriseRequest.status).in_(OPEN))
            if request_id is not None:
                q = q.where(EnterpriseRequest.id != request_id)
            if session.exec(q).first() is not None:
                check.add("org_name", f"A request for '{check.org_name}' is already under review.")

    users, msgs = parse_emails(data.get("user_emails"), "Users")
    for m in msgs:
        check.add("user_emails", m)
    admins, msgs = parse_emails(data.get("admin_emails"), "Admins")
    for m in msgs:
        check.add("admin_emails", m)
    check.user_emails, check.admin_emails = users, admins
    if len(users) < settings.MIN_USERS:
        check.add("user_emails", f"An enterprise account needs at least {settings.MIN_USERS} users "
                                 f"(you listed {len(users)}).")
    if len(admins) < settings.MIN_ADMINS:
        check.add("admin_emails", f"List at least {settings.MIN_ADMINS} admin"
                                  f"{'s' if settings.MIN_ADMINS != 1 else ''}.")
    not_users = [a for a in admins if a not in set(users)]
    if not_users:
        check.add("admin_emails", f"Admins must also be listed as users: {names(not_users)}.")
    _accounts(session, check)

    tokens = _amount(data.get("tokens"), "tokens", check, required=True)
    if tokens is not None:
        check.tokens = tokens
        need = settings.MIN_TOKENS_PER_USER * max(len(users), settings.MIN_USERS)
        if tokens < need:
            check.add("tokens", f"At least {settings.MIN_TOKENS_PER_USER:,} tokens per user: "
                                f"{max(len(users), settings.MIN_USERS)} users need at least {need:,}.")
        _multiple(tokens, "tokens", "Tokens", check)
    training = _amount(data.get("training_tokens"), "training_tokens", check, required=False)
    if training is not None:
        check.training_tokens = training
        _multiple(training, "training_tokens", "Training tokens", check)
    return check


def _accounts(session: Session, check: Check) -> None:
    emails = list(dict.fromkeys(check.user_emails + check.admin_emails))
    if not emails:
        return
    found = {u.email.lower(): u for u in session.exec(select(User).where(func.lower(User.email).in_(emails))).all()}
    org_ids = {u.org_id for u in found.values() if u.org_id is not None}
    org_names = dict(session.exec(select(Organization.id, Organization.name)
                                  .where(col(Organization.id).in_(org_ids))).all()) if org_ids else {}
    in_org, supers, banned = [], [], []
    for e in emails:
        u = found.get(e)
        if u is None:
            check.unregistered.append(e)
        elif not is_registered(u):
            check.invited.append(e)
        elif u.role == Role.super_admin.value:
            supers.append(e)
        elif u.org_id is not None:
            in_org.append(f"{e} ({org_names.get(u.org_id, 'another organization')})")
        elif u.banned:
            banned.append(e)
    if check.unregistered:
        check.add("user_emails", f"Not registered yet: {names(check.unregistered)}. Every user needs an account "
                                 "first: send them an invitation.")
    if check.invited:
        check.add("user_emails", f"Invited but not registered yet: {names(check.invited)}.")
    if in_org:
        check.add("user_emails", f"Already in another enterprise organization: {names(in_org)}.")
    if supers:
        check.add("user_emails", f"Super admins cannot join an organization: {names(supers)}.")
    if banned:
        check.add("user_emails", f"Banned accounts cannot join: {names(banned)}.")
