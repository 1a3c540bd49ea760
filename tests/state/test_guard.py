"""The default-deny middleware, called the way Reflex calls it (before the handler, with the tab's state)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext
from sqlmodel import Session

from services.auth import sessions
from services.core.db import get_engine

from .conftest import enrol_and_verify, sign_in, sub, with_token


def guard_mod():
    from admin_panel.runtime import guard

    return guard


def run_guard(root, name: str, payload: dict | None = None):
    g = guard_mod()
    return asyncio.run(g.GuardMiddleware().preprocess(app=None, state=root, event=Event(name=name,
                                                                                       payload=payload or {})))


def redirect_path(update) -> str | None:
    if update is None:
        return None
    assert update.delta == {}, "a denial must not carry a state delta"
    paths = [e.payload["path"] for e in update.events if e.name == "_redirect"]
    assert len(paths) == 1
    return paths[0]


def app_handlers(marker=None) -> list[str]:
    """Every handler of every Steward state, from Reflex's registry (new handlers are covered automatically)."""
    import admin_panel.admin_panel  # noqa: F401

    out = []
    for name, reg in RegistrationContext.get().event_handlers.items():
        cls = reg.states[0]
        if not cls.__module__.startswith("admin_panel"):
            continue
        if marker is None or issubclass(cls, marker):
            out.append(name)
    return sorted(out)


def test_registry_covers_the_app_states(root):
    g = guard_mod()
    names = app_handlers()
    assert len(names) >= 20
    for marker in (g.Public, g.PasswordStep, g.MemberArea, g.AdminArea):
        assert app_handlers(marker), marker


def test_anonymous_is_denied_everything_but_public(root, db_url):
    g = guard_mod()
    for name in app_handlers():
        cls = g.state_class_for(name)
        out = run_guard(root, name)
        if issubclass(cls, g.Public) and not name.endswith(".setvar"):
            assert out is None, name
        else:
            assert redirect_path(out) == "/login", name


def test_generic_setvar_and_unmarked_states_are_denied(root, people):
    g = guard_mod()
    token = sign_in(people.member.email)
    with_token(root, token)
    for name in app_handlers():
        if name.endswith(".setvar"):
            assert redirect_path(run_guard(root, name, {"var_name": "error", "value": "x"})) == "/login", name
    auth_handlers = [n for n in app_handlers() if g.state_class_for(n) is g.AuthState]
    assert auth_handlers
    for name in auth_handlers:
        assert run_guard(root, name) is not None
    assert redirect_path(run_guard(root, "reflex___state____state.no_such_handler")) == "/login"
    assert redirect_path(run_guard(root, "reflex___state____state.setvar", {"var_name": "is_hydrated",
                                                                          "value": True})) == "/login"


def test_framework_events_pass(root):
    for name in ("reflex___state____state.hydrate",
                 "reflex___state____state.reflex___state____on_load_internal_state.on_load_internal",
                 "reflex___state____state.reflex___state____update_vars_internal_state.update_vars_internal"):
        assert run_guard(root, name) is None, name


def _no_setvar(names):
    return [n for n in names if not n.endswith(".setvar")]  # the generic setter: always denied (see above)


def _admin_handlers():
    return _no_setvar(app_handlers(guard_mod().AdminArea))


def _member_handlers():
    return _no_setvar(app_handlers(guard_mod().MemberArea))


def _step_handlers():
    return _no_setvar(app_handlers(guard_mod().PasswordStep))


def test_member_session(root, people):
    with_token(root, sign_in(people.member.email))
    for name in _admin_handlers():
        assert redirect_path(run_guard(root, name)) == "/me", name
    for name in _member_handlers() + _step_handlers():
        assert run_guard(root, name) is None, name


@pytest.mark.parametrize("who", ["admin", "finance", "super_admin"])
def test_admin_roles_need_mfa_enrolment_then_verification(root, people, who):
    user = getattr(people, who)
    token = sign_in(user.email)
    with_token(root, token)
    for name in _admin_handlers() + _member_handlers():
        assert redirect_path(run_guard(root, name)) == "/mfa/setup", name
    for name in _step_handlers():
        assert run_guard(root, name) is None, name

    enrol_and_verify(user.id, token)
    g = guard_mod()
    for name in _admin_handlers() + _member_handlers():
        cls = g.state_class_for(name)
        allowed = not issubclass(cls, g.AdminArea) or user.role in g.roles_of(cls)
        out = run_guard(root, name)
        if allowed:
            assert out is None, name
        else:  # e.g. finance on a management page: sent to its own landing page
            assert redirect_path(out) == "/admin", name

    # A second sign-in: MFA is set up but not verified in *this* session.
    with_token(root, sign_in(user.email))
    for name in _admin_handlers():
        assert redirect_path(run_guard(root, name)) == "/mfa/verify", name


def test_required_roles_of_a_state(people):
    g = guard_mod()

    class SuperOnly(g.AdminArea):
        required_roles: ClassVar[tuple[str, ...]] = ("super_admin",)

    def info(user, verified=True):
        token = sign_in(user.email)
        if verified:
            enrol_and_verify(user.id, token)
        with Session(get_engine()) as s:
            return sessions.resolve(s, token)

    assert g.denial_route(SuperOnly, info(people.admin)) == "/admin"
    assert g.denial_route(SuperOnly, info(people.super_admin)) is None
    assert g.denial_route(SuperOnly, info(people.member, verified=False)) == "/me"


@pytest.mark.parametrize("kind", ["tampered", "revoked", "garbage", "huge"])
def test_bad_tokens_are_anonymous(root, people, kind):
    token = sign_in(people.member.email)
    if kind == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif kind == "revoked":
        with Session(get_engine()) as s:
            sessions.revoke(s, token)
            s.commit()
    elif kind == "garbage":
        token = "not-a-token"
    else:
        token = "x" * 10_000
    with_token(root, token)
    for name in _member_handlers():
        assert redirect_path(run_guard(root, name)) == "/login", name


def test_denial_changes_no_state(root, people):
    from admin_panel.shell.state import ShellState as AdminState

    with_token(root, sign_in(people.member.email))
    admin = sub(root, AdminState)
    before = admin.dict()
    out = run_guard(root, AdminState.get_full_name() + ".switch_org", {"org_id": str(people.other_org_id)})
    assert redirect_path(out) == "/me"
    assert admin.dict() == before
    assert root.get_delta() == {}


def test_every_admin_state_declares_its_roles_as_a_class_constant():
    """An unannotated `required_roles = (...)` on a Reflex state becomes a state var: the guard would then
    allow nobody. Every AdminArea state must declare real roles."""
    g = guard_mod()
    import admin_panel.admin_panel  # noqa: F401

    states = {g.state_class_for(n) for n in app_handlers(g.AdminArea)}
    assert states
    for cls in states:
        assert g.roles_of(cls), f"{cls.__name__}: required_roles must be a ClassVar tuple of roles"
        assert set(g.roles_of(cls)) <= {"super_admin", "admin", "finance"}, cls.__name__


def test_one_resolution_per_event_and_never_a_stale_one_for_the_guard(root, people, monkeypatch):
    """The handler reuses the guard's resolution of its event; the guard itself always reads the session again
    (a revoked token is refused at once), and a handler's write forgets the reused one."""
    g = guard_mod()
    from admin_panel.runtime.db import in_db

    token = sign_in(people.member.email)
    with_token(root, token)
    calls = []
    real = sessions.resolve
    monkeypatch.setattr(sessions, "resolve", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    member_handler = next(n for n in app_handlers(g.MemberArea) if not n.endswith(".setvar"))

    async def event_then_handler():
        assert await g.GuardMiddleware().preprocess(app=None, state=root,
                                                     event=Event(name=member_handler, payload={})) is None
        first = await g.current_session(root)
        again = await g.current_session(root)
        await in_db(lambda db: None)  # any write may change the session
        after_write = await g.current_session(root)
        return first, again, after_write

    first, again, after_write = asyncio.run(event_then_handler())
    assert first is not None and first == again and after_write is not None
    assert len(calls) == 2  # the guard's, and the one after the write

    async def revoked_between_two_events_of_the_tab():
        assert await g.GuardMiddleware().preprocess(app=None, state=root,
                                                     event=Event(name=member_handler, payload={})) is None
        assert await g.current_session(root) is not None
        with Session(get_engine()) as s:
            sessions.revoke(s, token)
            s.commit()
        return await g.GuardMiddleware().preprocess(app=None, state=root, event=Event(name=member_handler,
                                                                                      payload={}))

    assert redirect_path(asyncio.run(revoked_between_two_events_of_the_tab())) == "/login"


def test_a_connection_that_did_not_prove_the_session_runs_signed_out(root, people):
    """The state is bound to the socket that hydrated it with the browser's token (tests/security replays a
    client token over real sockets); an event from another socket is refused and signs the tab state out."""
    from reflex.istate.data import SessionData

    g = guard_mod()
    token = sign_in(people.member.email)
    with_token(root, token)
    name = next(n for n in app_handlers(g.MemberArea) if not n.endswith(".setvar"))
    assert run_guard(root, name) is None
    root.rx_router_session = SessionData(session_id="another-socket")
    assert redirect_path(run_guard(root, name)) == "/login"
    assert sub(root, g.AuthState).token == ""
    root.rx_router_session = SessionData(session_id="test-tab-sid")
    assert redirect_path(run_guard(root, name)) == "/login", "the signed-out state stays signed out"


def test_an_event_of_the_old_socket_processed_after_a_reconnect_is_still_served(root, people):
    """A browser reconnects (a new socket hydrates, proving the token) while an event its old socket sent is
    still queued: that event is served, not treated as a stranger's (which would sign the tab out)."""
    from reflex.istate.data import SessionData

    g = guard_mod()
    token = sign_in(people.member.email)
    with_token(root, token)  # proven on "test-tab-sid"
    name = next(n for n in app_handlers(g.MemberArea) if not n.endswith(".setvar"))
    root.rx_router_session = SessionData(session_id="the-new-socket")
    hydrate = Event(name=f"{root.get_full_name()}.hydrate_and_load", payload={"vars": {g.token_var_name(): token}})
    asyncio.run(g.bind(root, hydrate))
    root.rx_router_session = SessionData(session_id="test-tab-sid")  # the old socket's late event
    assert run_guard(root, name) is None and sub(root, g.AuthState).token == token
    root.rx_router_session = SessionData(session_id="the-new-socket")
    assert run_guard(root, name) is None
