"""One path for a handler's service call: `as_actor(self, call)` runs `call(db, actor)` as the signed-in user
(`as_session(self, call)`: `call(db, info)` with the whole session).

- The actor comes from the session resolved on the server (`current_session`), never from the browser's
  arguments. Without a session the handler returns `outcome.reply`, a redirect (to the sign-in page unless
  `missing` names another route).
- A `DomainError` is shown: its message goes to the state's `error` var (or the var named by `error=`).
- `StepUpRequired`, when the handler passed `retry` (a handler without arguments that redoes the action from
  server-side values), opens the step-up dialog, which runs `retry` once a fresh code is accepted. Without
  `retry` it is shown like any other error.
- Error kinds the handler treats on its own (`passes=(AlreadyReviewed,)`) are raised to it (the transaction
  rolled back, as for every error).

    done = await as_actor(self, lambda db, actor: tr.deny(db, actor=actor, request_id=rid), error="dialog_error")
    if not done:
        return done.reply
    ... done.value ...
"""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import reflex as rx
from sqlmodel import Session

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, current_session
from admin_panel.shell.stepup import ask_step_up
from services.auth.sessions import SessionInfo
from services.core.actor import Actor
from services.core.errors import DomainError, StepUpRequired

T = TypeVar("T")


class Outcome(Generic[T]):
    """A service call's result (`value`, truthy), or what the handler returns instead (`reply`, falsy): a
    redirect when signed out, None once the error is shown (`error`: its message) or the step-up dialog is open."""

    __slots__ = ("error", "ok", "reply", "value")
    value: T  # read only when ok

    def __init__(self, ok: bool, value: Any = None, reply: Any = None, error: str = ""):
        self.ok, self.reply, self.error = ok, reply, error
        self.value = value

    def __bool__(self) -> bool:
        return self.ok


def signed_out(missing: str = LOGIN_ROUTE) -> Outcome:
    """The outcome of a handler that found no session: the redirect it returns."""
    return Outcome(False, reply=rx.redirect(missing))


async def signed_in_actor(state: rx.State) -> Actor | None:
    """The actor of this tab's session, resolved on the server (None when signed out)."""
    info = await current_session(state)
    return info.actor() if info is not None else None


async def as_actor(state: rx.State, call: Callable[[Session, Actor], T], *, error: str = "error",
                   retry: Any = None, read: bool = False, missing: str = LOGIN_ROUTE,
                   passes: tuple[type[DomainError], ...] = ()) -> Outcome[T]:
    """`call(db, actor)` in one transaction (`read=True`: read-only) as the signed-in user; see the module doc."""
    return await as_session(state, lambda db, info: call(db, info.actor()), error=error, retry=retry, read=read,
                            missing=missing, passes=passes)


async def as_session(state: rx.State, call: Callable[[Session, SessionInfo], T], *, error: str = "error",
                     retry: Any = None, read: bool = False, missing: str = LOGIN_ROUTE,
                     passes: tuple[type[DomainError], ...] = ()) -> Outcome[T]:
    """`as_actor` for calls that need the session itself (its id, user id or device): `call(db, info)`."""
    info = await current_session(state)
    if info is None:
        return signed_out(missing)
    return await shown(state, lambda db: call(db, info), error=error, retry=retry, read=read, passes=passes)


async def shown(state: rx.State, call: Callable[[Session], T], *, error: str = "error", retry: Any = None,
                read: bool = False, passes: tuple[type[DomainError], ...] = ()) -> Outcome[T]:
    """`call(db)` in one transaction, a `DomainError` shown in `error` (step-up: the dialog, with `retry`)."""
    try:
        return Outcome(True, value=await in_db(call, read=read))
    except DomainError as e:
        if isinstance(e, passes):
            raise
        if retry is not None and isinstance(e, StepUpRequired):
            await ask_step_up(state, retry)
            return Outcome(False)
        setattr(state, error, e.message)
        return Outcome(False, error=e.message)
