"""Shared fixtures: a fresh, migrated database per test — SQLite always, PostgreSQL too when
TEST_DATABASE_URL is set (CI sets it)."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

# Set before any service module is imported. Tests never write the embedded default's key file.
os.environ.setdefault("STEWARD_SECRET_KEY", "x6y0Kq0gk9m8R2bQ0d4rJ3nV5uP7sT1wZ2cE4fG6hI8=")
# Cheap argon2 parameters in tests only (services/core/passwords.py); the browser tests' app inherits it.
os.environ.setdefault("STEWARD_FAST_PASSWORD_HASH", "1")

import pytest
from sqlalchemy import MetaData, select, text
from sqlmodel import Session, SQLModel

import models  # noqa: F401
from models import Role, utcnow
from services.core.actor import Actor, system_actor
from services.core.db import make_engine
from services.ops.migrate import upgrade
from services.orgs import organizations
from services.users import accounts

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(PG_URL)
    return PG_URL


def _truncate_pg(engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "steward.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = make_engine(request.getfixturevalue("pg_migrated"))
        _truncate_pg(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.rollback()


def snapshot(engine) -> dict:
    """Every row of every table, for 'nothing changed' assertions."""
    md = MetaData()
    md.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for t in md.sorted_tables:
            if t.name == "alembic_version":
                continue
            rows = conn.execute(select(t).order_by(*t.primary_key.columns)).all()
            out[t.name] = [tuple(r) for r in rows]
    return out


class World:
    """A small org with an admin, a finance user and two members, plus a second org (for scope tests)."""

    def __init__(self, session: Session):
        sysa = system_actor()
        self.super_user = accounts.create_user(session, actor=sysa, email="root@steward.test",
                                            role=Role.super_admin.value, paid=True).value
        self.org = organizations.create_org(session, actor=sysa, name="Org A", email_domain="a.test")
        self.other_org = organizations.create_org(session, actor=sysa, name="Org B", email_domain="b.test")
        a, b = system_actor(self.org.id), system_actor(self.other_org.id)
        now = utcnow()
        organizations.record_purchase(session, actor=a, org_id=self.org.id, tokens=4_000_000, training_tokens=2_000_000,
                             purchased_at=now - timedelta(days=10), expires_at=now + timedelta(days=300))
        mk = lambda actor, email, role="member", **kw: accounts.create_user(  # noqa: E731
            session, actor=actor, email=email, role=role, **kw).value
        self.admin = mk(a, "admin@a.test", "admin")
        self.finance = mk(a, "finance@a.test", "finance")
        self.alice = mk(a, "alice@a.test", max_tokens=500_000)
        self.bob = mk(a, "bob@a.test", max_tokens=300_000)
        self.other_admin = mk(b, "admin@b.test", "admin")
        self.carol = mk(b, "carol@b.test")
        session.commit()

    def actor(self, user, org_id=None) -> Actor:
        return Actor(user.id, user.role, org_id if user.role == "super_admin" else user.org_id, email=user.email)


@pytest.fixture
def world(session) -> World:
    return World(session)


@pytest.fixture
def dns(monkeypatch):
    """Made-up host names for outbound URLs (tests/fake_dns.py)."""
    from tests.fake_dns import Dns

    return Dns(monkeypatch)


LAYER_MARKERS = ("services", "state", "security", "e2e", "scale")


def pytest_collection_modifyitems(items) -> None:
    """Each test carries the marker of its layer (its folder under tests/): `pytest -m security`, `-m "not e2e"`."""
    for item in items:
        layer = item.path.relative_to(Path(__file__).parent).parts[0]
        if layer in LAYER_MARKERS:
            item.add_marker(layer)
