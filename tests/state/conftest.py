"""State tests: Reflex states instantiated under pytest, handlers called directly, on a fresh migrated database
per test — a copy of the migrated SQLite template, and PostgreSQL too when TEST_DATABASE_URL is set
(REFLEX_DB_URL points at it)."""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass

import pyotp
import pytest
from reflex.state import State
from reflex_base.event import Event
from sqlmodel import Session

import models  # noqa: F401
from models import Role, User
from services.auth import mfa, sessions, signin
from services.core.actor import system_actor
from services.core.crypto import decrypt
from services.core.db import get_engine, make_engine
from services.orgs import organizations
from services.users import accounts
from tests.conftest import BACKENDS, _truncate_pg

PASSWORD = "correct-horse-battery"


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path, monkeypatch) -> str:
    """A fresh migrated database for the app under test: a copy of the SQLite template, or the emptied
    PostgreSQL test database (when TEST_DATABASE_URL is set)."""
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_migrated")
        engine = make_engine(url)
        _truncate_pg(engine)
        engine.dispose()
    monkeypatch.setenv("REFLEX_DB_URL", url)
    get_engine.cache_clear()
    yield url
    get_engine.cache_clear()


@dataclass
class People:
    url: str
    org_id: int
    other_org_id: int
    super_admin: User
    admin: User
    finance: User
    member: User

    def engine(self):
        return get_engine()


@pytest.fixture
def people(db_url) -> People:
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as s:
        sysa = system_actor()
        org = organizations.create_org(s, actor=sysa, name="Org A", email_domain="a.test")
        other = organizations.create_org(s, actor=sysa, name="Org B", email_domain="b.test")
        a = system_actor(org.id)
        mk = lambda actor, email, role: accounts.create_user(  # noqa: E731
            s, actor=actor, email=email, role=role, password=PASSWORD, verified=True).value
        su = mk(sysa, "root@steward.test", Role.super_admin.value)
        admin = mk(a, "admin@a.test", "admin")
        finance = mk(a, "finance@a.test", "finance")
        member = mk(a, "member@a.test", "member")
        s.commit()
        out = People(db_url, org.id, other.id, su, admin, finance, member)
    engine.dispose()
    return out


def sign_in(email: str) -> str:
    """A fresh session token straight from the service (as the sign-in page would store it)."""
    with Session(get_engine(), expire_on_commit=False) as s:
        result = signin.sign_in(s, email=email, password=PASSWORD)
        s.commit()
    assert result.ok, result.message
    return result.token


def enrol_and_verify(user_id: int, token: str) -> None:
    """Turn MFA on for the user and mark the session as verified (the MFA pages' work, via services)."""
    with Session(get_engine(), expire_on_commit=False) as s:
        enrolment = mfa.begin_enrolment(s, user_id=user_id)
        assert mfa.confirm_enrolment(s, user_id=user_id, code=pyotp.TOTP(enrolment.secret).now())
        info = sessions.resolve(s, token)
        sessions.mark_mfa_verified(s, info.session_id)
        s.commit()


def totp_secret(user_id: int) -> str:
    with Session(get_engine()) as s:
        return decrypt(s.get(User, user_id).mfa_secret_enc)


@pytest.fixture
def root():
    """A fresh state tree for one browser tab (every substate instantiated)."""
    import admin_panel.admin_panel  # noqa: F401  (registers the app, its states and the guard)

    return State(_reflex_internal_init=True)


def sub(root: State, cls):
    return root._get_state_from_cache(cls)


TAB_CONNECTION = "test-tab-sid"


def with_token(root: State, token: str) -> State:
    """The tab's browser storage holds `token`, proven on this connection's hydrate (as the frontend does on
    every connect: the guard binds the state to the connection)."""
    import asyncio

    from reflex.istate.data import SessionData

    from admin_panel.runtime.guard import AuthState, bind, token_var_name

    if root.rx_router_session.session_id != TAB_CONNECTION:
        root.rx_router_session = SessionData(session_id=TAB_CONNECTION)
    hydrate = Event(name=f"{State.get_full_name()}.hydrate_and_load", payload={"vars": {token_var_name(): token}})
    asyncio.run(bind(root, hydrate))
    sub(root, AuthState).token = token
    root._clean()
    return root


def redirect_of(ret) -> str | None:
    """The path of an `rx.redirect` a handler returned (None if it returned no redirect)."""
    if ret is None:
        return None
    for ev in Event.from_event_type(ret):
        if ev.name == "_redirect":
            return ev.payload["path"]
    return None


def download_of(ret) -> tuple[str, str]:
    """The file a handler sends: inline data (small chart exports), or fetched from the backend's single-use
    download link (background exports), which then no longer works."""
    for ev in Event.from_event_type(ret):
        if ev.name == "_download":
            url = ev.payload["url"]
            if url.startswith("data:"):
                return ev.payload["filename"], base64.b64decode(url.split("base64,", 1)[1]).decode()
            from starlette.testclient import TestClient

            from admin_panel.api import create_api

            client = TestClient(create_api())
            r = client.get(url)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
            assert ev.payload["filename"] in r.headers["content-disposition"]
            assert client.get(url).status_code == 404  # used up
            return ev.payload["filename"], r.text
    raise AssertionError("no download")
