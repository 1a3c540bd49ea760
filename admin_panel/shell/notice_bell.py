"""The header bell: unread threshold notices of the working org, a popover list and "mark all read".
The lead places `notice_bell()` in the shell header; `NoticeState.load` runs on open and on page load."""

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import AdminArea, current_session
from admin_panel.ui import formatting as fmt
from services.core.errors import DomainError
from services.tokens import notices


class NoticeState(AdminArea, rx.State):
    """Display data only: the unread count and the latest notices (finance, admins, super admins)."""

    unread: int = 0
    items: list[dict[str, str]] = []
    error: str = ""

    @rx.event
    async def load(self):
        info = await current_session(self)
        if info is None or info.org_id is None:
            self.unread, self.items = 0, []
            return

        def read(db):
            actor = info.actor()
            return notices.unread_count(db, actor=actor), notices.list_notices(db, actor=actor, limit=10)

        try:
            count, rows = await in_db(read, read=True)
        except DomainError as e:
            self.error = e.message
            return
        self.unread, self.error = count, ""
        self.items = [{"id": str(n["id"]), "message": n["message"], "when": fmt.moment(n["created_at"]),
                       "read": "1" if n["read"] else ""} for n in rows]

    @rx.event
    async def mark_all_read(self):
        info = await current_session(self)
        if info is None or info.org_id is None:
            return
        try:
            await in_db(lambda db: notices.mark_all_read(db, actor=info.actor()))
        except DomainError as e:
            self.error = e.message
            return
        await self.load()


def _item(n: dict) -> rx.Component:
    return rx.box(
        rx.text(n["message"], size="2", weight=rx.cond(n["read"] == "", "medium", "regular")),
        rx.text(n["when"], size="1", color_scheme="gray"),
        padding_y="0.4rem", border_bottom="1px solid var(--gray-a4)", width="100%",
    )


def notice_bell() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.icon("bell", size=18),
                rx.cond(NoticeState.unread > 0, rx.badge(NoticeState.unread, color_scheme="red", radius="full",
                                                         size="1")),
                variant="ghost", aria_label="Notices", on_click=NoticeState.load, id="notice-bell",
            ),
        ),
        rx.popover.content(
            rx.vstack(
                rx.hstack(
                    rx.text("Notices", weight="bold"),
                    rx.spacer(),
                    rx.button("Mark all read", size="1", variant="soft", on_click=NoticeState.mark_all_read,
                              disabled=NoticeState.unread == 0),
                    width="100%", align="center",
                ),
                rx.cond(NoticeState.items.length() > 0,
                        rx.vstack(rx.foreach(NoticeState.items, _item), spacing="0", width="100%",
                                  max_height="360px", overflow_y="auto"),
                        rx.text("No notices yet.", size="2", color_scheme="gray")),
                rx.cond(NoticeState.error != "", rx.text(NoticeState.error, color_scheme="red", size="1")),
                width="100%",
            ),
            width="360px",
        ),
        on_open_change=lambda _open: NoticeState.load(),
    )
