"""Sign out (every signed-in page's menu): revoke the session, clear the token and every protected state."""

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, AdminArea, AuthState, MemberArea, PasswordStep
from services.auth import sessions


class SessionState(PasswordStep, rx.State):
    """Sign out: revoke the session, clear the token and every protected state, go to the sign-in page."""

    @rx.event
    async def sign_out(self):
        auth_state = await self.get_state(AuthState)
        token = auth_state.token

        await in_db(lambda db: sessions.revoke(db, token))
        await reset_protected_states(self)
        auth_state.token = ""
        return rx.redirect(LOGIN_ROUTE)


async def reset_protected_states(state: rx.State) -> None:
    """Reset every state behind the guard (their display data belongs to the signed-out user)."""
    root = state._get_root_state()
    pending = list(type(root).get_substates())
    while pending:
        cls = pending.pop()
        pending.extend(cls.get_substates())
        if issubclass(cls, (PasswordStep, MemberArea, AdminArea)):
            (await state.get_state(cls)).reset()
