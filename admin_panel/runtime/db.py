"""Running service calls from async handlers: in a worker thread, inside one transaction."""

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from admin_panel.runtime.guard import forget_event_session
from services.core.db import read_scope, session_scope

T = TypeVar("T")


async def in_db(fn: Callable[[Session], T], *, read: bool = False) -> T:
    """`fn(db)` in a worker thread; commits on success, rolls back on any error (DomainError included).
    `read=True` opens a read-only transaction (no SQLite write lock). A write may change the signed-in session
    (sign-out, MFA, org switch): the handler's next `current_session` reads it again."""
    if not read:
        forget_event_session()

    def run() -> T:
        with (read_scope() if read else session_scope()) as db:
            return fn(db)

    return await asyncio.to_thread(run)
