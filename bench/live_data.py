"""The data behind the live-app benchmarks: bench/generate.py's org ("Bench Corp": N users, a year of usage)
plus a few org admins who can sign in (password, TOTP MFA enrolled), wrapped in the security suite's `World`
so that `world.sign_in(key, verified=True)` hands out real MFA-verified session tokens.
"""

from __future__ import annotations

import os

os.environ.setdefault("STEWARD_SECRET_KEY", "x6y0Kq0gk9m8R2bQ0d4rJ3nV5uP7sT1wZ2cE4fG6hI8=")
os.environ.setdefault("STEWARD_FAST_PASSWORD_HASH", "1")

from sqlmodel import Session  # noqa: E402

from bench import generate  # noqa: E402
from services.core.actor import system_actor  # noqa: E402
from services.core.db import make_engine  # noqa: E402
from services.users import accounts  # noqa: E402
from tests.security.world import PASSWORD, World, enrol_mfa  # noqa: E402

BENCH_ORG = 1  # generate.py's big org


def build(url: str, *, users_n: int, events: int, admins: int = 8, audit: int = 20_000,
          sign_ins: int = 5_000) -> World:
    """A fresh database (emptied!) with the generated org and `admins` signable admins: keys admin0…"""
    generate.main(["--url", url, "--users", str(users_n), "--events", str(events), "--audit", str(audit),
                   "--sign-ins", str(sign_ins)])
    return add_admins(url, admins)


def add_admins(url: str, n: int, *, org_id: int = BENCH_ORG, domain: str = "bench.test") -> World:
    w = World(url)
    eng = make_engine(url)
    try:
        with Session(eng, expire_on_commit=False) as s:
            for i in range(n):
                email = f"load-admin{i}@{domain}"
                user = accounts.create_user(s, actor=system_actor(org_id), email=email, role="admin",
                                         password=PASSWORD, verified=True, paid=True).value
                s.flush()
                enrol_mfa(s, user.id)
                key = f"admin{i}"
                w.ids[key], w.emails[key], w.org_of[key] = user.id, email, org_id
            s.commit()
    finally:
        eng.dispose()
    return w


def world_of(url: str, n: int) -> World:
    """The World of a database `build` made earlier (the admins exist already)."""
    w = World(url)
    for i in range(n):
        key = f"admin{i}"
        w.emails[key], w.org_of[key] = f"load-admin{i}@bench.test", BENCH_ORG
    return w


def add_super(w: World) -> None:
    """A super admin (key "super") with MFA, for the Organizations page."""
    eng = make_engine(w.url)
    try:
        with Session(eng, expire_on_commit=False) as s:
            user = accounts.create_user(s, actor=system_actor(), email="load-super@bench.test", role="super_admin",
                                     password=PASSWORD, verified=True, paid=True).value
            s.flush()
            enrol_mfa(s, user.id)
            w.ids["super"], w.emails["super"], w.org_of["super"] = user.id, user.email, None
            s.commit()
    finally:
        eng.dispose()
