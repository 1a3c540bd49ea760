"""The page registry: `@admin_page` for every Admin Panel page, `@public_page` for the pages outside the shell.

    @admin_page(nav_key="users", title="User Management", on_load=UsersState.load)
    def users_page() -> rx.Component:
        return rx.vstack(...)   # the page body only; the shell adds sidebar, header and the org context

The route and the roles come from `nav.NAV[nav_key]`. The page's own state must be an `AdminArea` whose
`required_roles` equal those roles (the guard protects the handlers; the shell only hides and redirects).

    @public_page(route="/register", title="Create an account", on_load=RegisterState.clear)
    def register_page() -> rx.Component:
        return auth_layout(...)   # the whole page: sign-in, password, MFA, member and sign-up pages

`route` may be a list (the sign-in page is served at `/` and `/login`); the title gets " · Steward".
Page modules (`page.py`, `*_page.py`) under `admin_panel/features/*/` are imported at start-up
(`layout.register_pages`), so a new page only needs its module.
"""

from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class PublicPage:
    route: str
    title: str
    body: Callable[[], rx.Component]
    on_load: object = None


PAGES: dict[str, PageSpec] = {}
PUBLIC_PAGES: list[PublicPage] = []


def admin_page(*, nav_key: str, title: str | None = None, on_load=None, all_orgs: bool = False):
    item = BY_KEY[nav_key]
    loads = tuple(on_load) if isinstance(on_load, (list, tuple)) else ((on_load,) if on_load is not None else ())

    def register(body: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        PAGES[nav_key] = PageSpec(item=item, title=title or item.label, body=body, on_load=loads,
                                  all_orgs=all_orgs)
        return body

    return register


def public_page(*, route: str | Sequence[str], title: str, on_load=None):
    routes = (route,) if isinstance(route, str) else tuple(route)

    def register(body: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        PUBLIC_PAGES.extend(PublicPage(route=r, title=f"{title} · Steward", body=body, on_load=on_load)
                            for r in routes)
        return body

    return register


def available_keys() -> set[str]:
    return set(PAGES)
