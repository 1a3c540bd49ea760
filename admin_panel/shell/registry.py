"""`@admin_page`: the one page-template decorator every Admin Panel page uses.

    @admin_page(nav_key="users", title="User Management", on_load=UsersState.load)
    def users_page() -> rx.Component:
        return rx.vstack(...)   # the page body only; the shell adds sidebar, header and the org context

The route and the roles come from `nav.NAV[nav_key]`. The page's own state must be an `AdminArea` whose
`required_roles` equal those roles (the guard protects the handlers; the shell only hides and redirects).
Page modules under `admin_panel/features/*/` are imported at start-up, so a new page only needs its module.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import reflex as rx

from admin_panel.shell.nav import BY_KEY, NavItem


@dataclass(frozen=True)
class PageSpec:
    item: NavItem
    title: str
    body: Callable[[], rx.Component]
    on_load: tuple = field(default_factory=tuple)
    all_orgs: bool = False  # super admins may choose "All organizations" on this page


PAGES: dict[str, PageSpec] = {}


def admin_page(*, nav_key: str, title: str | None = None, on_load=None, all_orgs: bool = False):
    item = BY_KEY[nav_key]
    loads = tuple(on_load) if isinstance(on_load, (list, tuple)) else ((on_load,) if on_load is not None else ())

    def register(body: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        PAGES[nav_key] = PageSpec(item=item, title=title or item.label, body=body, on_load=loads,
                                  all_orgs=all_orgs)
        return body

    return register


def available_keys() -> set[str]:
    return set(PAGES)
