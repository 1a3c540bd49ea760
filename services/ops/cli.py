"""Command line: `python -m services.ops.cli --help`."""

import argparse
import sys
import time
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from models import Role, User
from services.core import settings
from services.core.actor import system_actor
from services.core.audit import verify_chain
from services.core.db import get_engine, session_scope
from services.core.errors import DomainError
from services.ops.demo import accounts_text, is_seeded, seed_demo
from services.ops.jobs import run_due_jobs
from services.ops.migrate import upgrade
from services.users.accounts import create_user


def _migrate(args) -> int:
    upgrade(settings.db_url())
    print(f"Database is at the latest schema ({_safe_url()}).")
    return 0


def _safe_url() -> str:
    return make_url(settings.db_url()).render_as_string(hide_password=True)


def _seed(args) -> int:
    with session_scope() as s:
        if is_seeded(s):
            if args.if_empty:
                print("Demo data already present; nothing seeded.")
                print(accounts_text())
                return 0
            print("The database already holds organizations; seed-demo runs only on an empty database.",
                  file=sys.stderr)
            return 1
        t0 = time.perf_counter()
        counts = seed_demo(s, seed=args.seed, scale=args.scale)
    print(f"Seeded {counts['orgs']} organizations, {counts['users']} users, {counts['events']:,} usage events, "
          f"{counts['requests']} token requests in {time.perf_counter() - t0:.1f} s.")
    print(accounts_text())
    return 0


def _create_superadmin(args) -> int:
    try:
        with session_scope() as s:
            user = create_user(s, actor=system_actor(), email=args.email, name=args.name, role=Role.super_admin.value,
                               paid=True, verified=True, password=args.password).value
            if not isinstance(user, User):  # Result.value is untyped
                raise TypeError(f"create_user returned {user!r}, not a user.")
    except DomainError as e:
        print(f"Error: {e.message}", file=sys.stderr)
        return 1
    print(f"Super admin {user.email} created (id {user.id}). They enrol MFA at their first sign-in.")
    return 0


def _verify_audit(args) -> int:
    with session_scope() as s:
        report = verify_chain(s)
    print(f"Audit chain {report}")
    return 0 if report.intact else 2


def _run_jobs(args) -> int:
    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        except ValueError:
            print("Error: --now must be an ISO 8601 time, e.g. 2026-12-01T00:05:00Z", file=sys.stderr)
            return 1
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    with session_scope() as s:
        report = run_due_jobs(s, now=now)
    print(f"Jobs done: {report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ops.cli", description="Steward administration commands.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)").set_defaults(fn=_migrate)
    p = sub.add_parser("seed-demo", help="fill an empty database with the demo organizations")
    p.add_argument("--if-empty", action="store_true", help="do nothing (exit 0) when data is already there")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the demo user counts (default 1.0)")
    p.set_defaults(fn=_seed)
    p = sub.add_parser("run-jobs", help="run the automatic jobs that are due (idempotent per period)")
    p.add_argument("--now", help="act as if it were this time (ISO 8601, UTC if no offset)")
    p.set_defaults(fn=_run_jobs)
    p = sub.add_parser("create-superadmin", help="create a super admin account (non-interactive)")
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--name", default="")
    p.set_defaults(fn=_create_superadmin)
    sub.add_parser("verify-audit", help="walk the audit hash chain; exit 2 at the first broken entry").set_defaults(
        fn=_verify_audit)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    finally:
        get_engine.cache_clear()


if __name__ == "__main__":
    sys.exit(main())
