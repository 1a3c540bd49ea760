"""The default-deny guard: a middleware that runs before every event, and the state markers it reads.

Any browser can call any handler of any state over the websocket (DESIGN.md, "The Reflex security model").
So the guard decides per *state class*, not per page:

- framework states (Reflex's root `State` and its internal substates: hydrate, on_load, client storage
  sync, frontend exceptions) pass;
- states marked `Public` (sign-in, forgot/reset password) pass;
- `PasswordStep` (MFA setup/verification, sign out) needs a valid session;
- `MemberArea` needs a valid session; users with an admin role must also have verified MFA in it;
- `AdminArea` needs a valid session, MFA verified in this session and a role in the state's
  `required_roles`;
- every other state (including `AuthState`, which only holds the token) is denied.

A denied event does not run and changes no state: the middleware answers with a redirect only. The session
is resolved from the opaque token in browser storage through `services.auth.sessions.resolve`; handlers resolve it
again with `current_session(self)` (nothing about the user is ever taken from the browser).
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from time import monotonic
from typing import TYPE_CHECKING, ClassVar

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import (
    FrontendEventExceptionState,
    OnLoadInternalState,
    State,
    StateUpdate,
    UpdateVarsInternalState,
)
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext

from models import ADMIN_ROLES
from services.auth import sessions
from services.auth.sessions import SessionInfo
from services.core.db import read_scope, session_scope

if TYPE_CHECKING:
    from reflex.app import App

TOKEN_STORAGE_KEY = "steward_session"
DEVICE_STORAGE_KEY = "steward_device"

LOGIN_ROUTE = "/login"
MFA_SETUP_ROUTE = "/mfa/setup"
MFA_VERIFY_ROUTE = "/mfa/verify"
MEMBER_ROUTE = "/me"
ADMIN_ROUTE = "/admin"


# ---------------------------------------------------------------------------------------------- markers
class Public:
    """Handlers anyone may call (sign-in, forgot/reset password)."""


class PasswordStep:
    """Handlers that need a valid session, MFA not yet required (MFA setup/verification, sign out)."""


class MemberArea:
    """Handlers for any signed-in user (admin roles: after MFA)."""


class AdminArea:
    """Handlers of the Admin Panel: valid session, MFA verified in this session, and one of `required_roles`."""

    required_roles: ClassVar[tuple[str, ...]] = tuple(ADMIN_ROLES)


MARKERS = (Public, PasswordStep, MemberArea, AdminArea)

# Reflex's own states. Their handlers only hydrate, run the page's on_load list (whose events come back
# through this middleware one by one), sync client-storage vars, or report frontend errors.
# Only these handlers of theirs pass (not, for instance, their generic `setvar`).
FRAMEWORK_STATES: tuple[type, ...] = (State, OnLoadInternalState, UpdateVarsInternalState,
                                      FrontendEventExceptionState)
FRAMEWORK_HANDLERS = frozenset({
    "hydrate", "hydrate_and_load", "set_is_hydrated", "on_load_internal", "update_vars_internal",
    "handle_frontend_exception",
})


# ----------------------------------------------------------------------------------------- auth state
class AuthState(rx.State):
    """Holds only the opaque session token (and the trusted-browser token), kept in the browser's local storage.
    No handlers.

    `_connections` are the websocket connections (Socket.IO sids, newest last) that hydrated this tab's state
    proving the token from the browser's storage. Events from any other connection run as signed out (`bind`)."""

    token: str = rx.LocalStorage("", name=TOKEN_STORAGE_KEY, sync=True)
    # A trusted browser's sealed token (services/auth/devices.py): it outlives sign-outs; the server checks it.
    device: str = rx.LocalStorage("", name=DEVICE_STORAGE_KEY)
    _connections: list[str] = []


def _resolve_sync(token: str) -> SessionInfo | None:
    """Resolve in a read-only transaction (no SQLite write lock per event); move the idle clock on in a short
    write only when it is due (once a minute)."""
    if not token:
        return None
    with read_scope() as db:
        info = sessions.resolve(db, token, touch=False)
    if info is not None and info.needs_touch():
        with session_scope() as db:
            sessions.touch(db, info.session_id)
    return info


async def resolve_token(token: str) -> SessionInfo | None:
    """The session behind a token (None if unknown, revoked, expired, idle or banned)."""
    if not isinstance(token, str) or not token:
        return None
    return await asyncio.to_thread(_resolve_sync, token)


# The guard's resolution of the event being processed: (token, session, when). The handler of that event
# reuses it instead of reading the session again. The guard resets it before every event and resolves afresh;
# every writing `in_db` call forgets it (a handler that changes the session — sign-out, MFA, org switch — reads
# it again); background work older than REUSE_SECONDS reads it again.
_EVENT_SESSION: ContextVar[tuple[str, SessionInfo | None, float] | None] = ContextVar("steward_event_session",
                                                                                     default=None)
REUSE_SECONDS = 5.0


def forget_event_session() -> None:
    _EVENT_SESSION.set(None)


async def current_session(state: rx.State) -> SessionInfo | None:
    """The signed-in session of the browser tab this handler runs for, resolved from the DB (once per event)."""
    auth = await state.get_state(AuthState)
    token = auth.token
    seen = _EVENT_SESSION.get()
    if seen is not None and seen[0] == token and monotonic() - seen[2] < REUSE_SECONDS:
        return seen[1]
    return await resolve_token(token)


def landing_route(info: SessionInfo | None) -> str:
    """Where a session belongs next: sign-in, MFA enrolment, MFA verification, member or admin area."""
    if info is None:
        return LOGIN_ROUTE
    if info.role in ADMIN_ROLES:
        if not info.mfa_enabled:
            return MFA_SETUP_ROUTE
        if not info.mfa_ok:
            return MFA_VERIFY_ROUTE
        return ADMIN_ROUTE
    return MEMBER_ROUTE


def roles_of(state_cls: type) -> tuple[str, ...]:
    """The roles a state's handlers allow. A state must declare `required_roles: ClassVar[tuple[str, ...]]`;
    anything else (e.g. an unannotated attribute, which Reflex turns into a state var) allows nobody."""
    roles = getattr(state_cls, "required_roles", ())
    return roles if isinstance(roles, tuple) and all(isinstance(r, str) for r in roles) else ()


def denial_route(state_cls: type, info: SessionInfo | None) -> str | None:
    """None if a state's handlers may run for this session, else the route to send the browser to."""
    if issubclass(state_cls, Public):
        return None
    if info is None:
        return LOGIN_ROUTE
    if issubclass(state_cls, PasswordStep):
        return None
    needs_mfa = issubclass(state_cls, AdminArea) or info.role in ADMIN_ROLES
    if needs_mfa and info.role in ADMIN_ROLES and not info.mfa_ok:
        return MFA_SETUP_ROUTE if not info.mfa_enabled else MFA_VERIFY_ROUTE
    if issubclass(state_cls, AdminArea):
        if info.role not in roles_of(state_cls):
            return landing_route(info) if info.role in ADMIN_ROLES else MEMBER_ROUTE
        return None
    if issubclass(state_cls, MemberArea):
        return None
    return landing_route(info)  # an unmarked state: never runs


def state_class_for(event_name: str) -> type | None:
    """The state class owning a handler, from Reflex's handler registry (None if unknown)."""
    registered = RegistrationContext.get().event_handlers.get(event_name)
    if registered is None or not registered.states:
        return None
    return registered.states[0]


def is_framework_event(state_cls: type, event_name: str) -> bool:
    return state_cls in FRAMEWORK_STATES and event_name.rpartition(".")[2] in FRAMEWORK_HANDLERS


# --------------------------------------------------------------------------- binding state to the browser
# Reflex keys a tab's server-side state by its client token (session storage, sent in the socket URL). Anyone who
# learns that token (a log line, a shared machine) could open a socket with it and act in the tab's signed-in
# state without ever knowing the Steward session token. So the state is bound to the connection that proved the
# Steward token on connect: every (re)connect of the real frontend starts with `hydrate_and_load`, carrying the
# browser's storage. A hydrate that proves a different token than the state holds resets the whole state tree
# (the old page data must not reach the new socket either); every other event from a connection that did not
# hydrate runs signed out. The last few proven connections stay valid, so an event the old socket sent just
# before a reconnect, processed after it, is still served as before.
HYDRATE_HANDLERS = frozenset({"hydrate", "hydrate_and_load"})
PROVEN_CONNECTIONS = 8


def token_var_name() -> str:
    return f"{AuthState.get_full_name()}.token_rx_state_"


def _proven_token(event: Event) -> str:
    """The Steward token a hydrate event brings from the browser's storage ("" when none)."""
    vars_ = event.payload.get("vars") if isinstance(event.payload, dict) else None
    value = vars_.get(token_var_name()) if isinstance(vars_, dict) else None
    return value if isinstance(value, str) else ""


async def _all_states(root: rx.State) -> list[rx.State]:
    """Every state of the tab's tree, loaded (a Redis state manager loads substates on demand)."""
    out, todo = [], [type(root)]
    while todo:
        cls = todo.pop()
        out.append(await root.get_state(cls))
        todo.extend(cls.get_substates())
    return out


async def _sign_out_tree(state: rx.State) -> None:
    """Every state of the tab back to its defaults (backend vars included; the router data stays)."""
    await _all_states(state)
    state.reset()


async def bind(state: rx.State, event: Event) -> None:
    """On a hydrate: bind the tab's state to this connection, resetting it when the browser proves another
    session token than the state holds."""
    auth = await state.get_state(AuthState)
    if auth.token and auth.token != _proven_token(event):
        await _sign_out_tree(state)
    sid = state.router.session.session_id
    auth._connections = [c for c in auth._connections if c != sid][-(PROVEN_CONNECTIONS - 1):] + [sid]


async def bound_token(state: rx.State) -> str:
    """The tab's Steward token if this event's connection proved it on connect. An event from any other
    connection signs the whole tab state out first (its page data must not reach that socket later)."""
    auth = await state.get_state(AuthState)
    sid = state.router.session.session_id
    if sid and sid in auth._connections:
        return auth.token
    if auth.token:
        await _sign_out_tree(state)
    return ""


def deny(route: str) -> StateUpdate:
    """An answer that stops the event: no delta, only a redirect."""
    return StateUpdate(delta={}, events=Event.from_event_type([rx.redirect(route)]))


class GuardMiddleware(Middleware):
    """Default deny: see the module docstring."""

    async def preprocess(self, app: App, state: rx.State, event: Event) -> StateUpdate | None:
        forget_event_session()
        state_cls = state_class_for(event.name)
        if state_cls is None or event.name.rpartition(".")[2] == "setvar":
            return deny(LOGIN_ROUTE)  # unknown, or the generic setter (never used by Steward's pages)
        if is_framework_event(state_cls, event.name):
            if state_cls is State and event.name.rpartition(".")[2] in HYDRATE_HANDLERS:
                await bind(state, event)
            return None
        if not any(issubclass(state_cls, marker) for marker in MARKERS):
            return deny(LOGIN_ROUTE)
        token = await bound_token(state)  # Public handlers too run signed out on an unproven connection
        if issubclass(state_cls, Public):
            return None
        info = await resolve_token(token)  # always afresh: the guard never trusts an earlier resolution
        route = denial_route(state_cls, info)
        if route is None:
            _EVENT_SESSION.set((token, info, monotonic()))
            return None
        return deny(route)
