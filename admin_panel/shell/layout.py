"""The shell around every Admin Panel page: sidebar (a drawer below 1200 px), header, org context."""

import importlib
import pkgutil

import reflex as rx

from admin_panel import features
from admin_panel.shell.nav import NAV, SECTIONS, NavItem
from admin_panel.shell.notice_bell import NoticeState, notice_bell
from admin_panel.shell.recovery import RecoveryCodesState, recovery_codes_dialog
from admin_panel.shell.registry import PAGES, PUBLIC_PAGES, PageSpec
from admin_panel.shell.session import SessionState
from admin_panel.shell.state import ShellState
from admin_panel.shell.stepup import step_up_dialog
from admin_panel.ui import styles
from admin_panel.ui.logo import PRODUCT_NAME, logo_mark
from admin_panel.ui.widgets import content_column, header_bar

WIDE = "@media (min-width: 1200px)"
SIDEBAR_WIDTH = "248px"


def _nav_link(item: NavItem, active: bool, in_drawer: bool) -> rx.Component:
    link = rx.link(
        rx.hstack(rx.icon(item.icon, size=18), rx.text(item.label, size="2", weight="medium"),
                  align="center", spacing="3", width="100%", padding_x="0.75rem", padding_y="0.55rem",
                  border_radius="var(--radius-3)",
                  background_color=styles.accent_bg_color if active else "transparent",
                  color=styles.accent_text_color if active else styles.text_color,
                  _hover={"background_color": rx.color("accent", 4) if active else rx.color("gray", 3)}),
        href=item.route,
        underline="none",
        width="100%",
        aria_current="page" if active else None,
        class_name="nav-link nav-active" if active else "nav-link",
        id=f"nav-{item.key}{'-drawer' if in_drawer else ''}",
        on_click=ShellState.set_drawer(False) if in_drawer else None,
    )
    return rx.cond(ShellState.nav_keys.contains(item.key), link)


def _section(name: str, current: str, in_drawer: bool) -> rx.Component:
    items = [i for i in NAV if i.section == name]
    return rx.cond(
        ShellState.nav_sections.contains(name),
        rx.vstack(
            rx.text(name.upper(), size="1", weight="bold", color=styles.muted_text_color, padding_x="0.75rem",
                    letter_spacing="0.06em"),
            *[_nav_link(i, i.key == current, in_drawer) for i in items],
            spacing="1",
            width="100%",
        ),
    )


def sidebar_content(current: str, in_drawer: bool = False) -> rx.Component:
    return rx.vstack(
        rx.hstack(logo_mark(size="30px"), rx.text(PRODUCT_NAME, size="4", weight="bold"), align="center",
                  spacing="2", padding_x="0.75rem", padding_bottom="0.5rem"),
        *[_section(s, current, in_drawer) for s in SECTIONS],
        rx.spacer(),
        rx.link(rx.hstack(rx.icon("arrow-left", size=16), rx.text("Back to my account", size="2"),
                          align="center", spacing="2", padding_x="0.75rem", padding_y="0.5rem"),
                href="/me", underline="none", color=styles.muted_text_color, id="back-to-account"),
        spacing="5",
        height="100%",
        width="100%",
        padding="1rem 0.75rem",
    )


def sidebar(current: str) -> rx.Component:
    return rx.box(
        sidebar_content(current),
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        height="100vh",
        position="sticky",
        top="0",
        border_right=styles.border,
        background_color="var(--color-panel-solid)",
        id="sidebar",
        style={"display": "none", WIDE: {"display": "block"}},
    )


def drawer(current: str) -> rx.Component:
    return rx.drawer.root(
        rx.drawer.overlay(z_index="40"),
        rx.drawer.portal(
            rx.drawer.content(
                rx.box(sidebar_content(current, in_drawer=True), height="100%", width="100%"),
                width="min(300px, 85vw)",
                height="100%",
                top="0",
                left="0",
                z_index="50",
                background_color="var(--color-panel-solid)",
                id="nav-drawer",
            ),
        ),
        direction="left",
        open=ShellState.drawer_open,
        on_open_change=ShellState.set_drawer,
    )


def _org_option(label, on_click, icon: str) -> rx.Component:
    return rx.button(rx.icon(icon, size=14), label, variant="ghost", size="2", justify_content="flex-start",
                     width="100%", on_click=on_click, class_name="org-option", margin="0")


def org_switcher(all_orgs: bool) -> rx.Component:
    """Super admins: a searchable list of every organization ("All organizations" on analytics pages)."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(rx.icon("building-2", size=16), rx.text(ShellState.org_name, trim="both", truncate=True),
                      rx.icon("chevrons-up-down", size=14), variant="surface", id="org-switcher",
                      max_width="240px"),
        ),
        rx.popover.content(
            rx.vstack(
                rx.input(rx.input.slot(rx.icon("search", size=14)), placeholder="Search organizations",
                         value=ShellState.org_query, on_change=ShellState.set_org_query, id="org-search",
                         width="100%"),
                rx.box(
                    rx.vstack(
                        _org_option("All organizations", ShellState.switch_org("all"), "layers") if all_orgs
                        else rx.fragment(),
                        rx.foreach(ShellState.filtered_orgs,
                                   lambda o: _org_option(o["name"], ShellState.switch_org(o["id"]), "building-2")),
                        spacing="1",
                        width="100%",
                    ),
                    max_height="300px", overflow_y="auto", overflow_x="hidden", width="100%",
                ),
                spacing="2",
                width="280px",
            ),
            align="end",
        ),
    )


def org_context(all_orgs: bool) -> rx.Component:
    return rx.cond(
        ShellState.is_super,
        org_switcher(all_orgs),
        rx.badge(rx.icon("building-2", size=12), ShellState.org_name, size="2", variant="soft", id="org-badge"),
    )


def user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(rx.icon("circle-user-round", size=18),
                      rx.text(ShellState.name, display=["none", "none", "block"], max_width="180px",
                              white_space="nowrap", overflow="hidden", text_overflow="ellipsis"),
                      variant="ghost", color_scheme="gray", id="user-menu"),
        ),
        rx.menu.content(
            rx.box(rx.text(ShellState.email, size="2", weight="medium"),
                   rx.text(ShellState.role_label, size="1", color=styles.muted_text_color),
                   padding_x="0.75rem", padding_y="0.35rem"),
            rx.menu.separator(),
            rx.menu.item(rx.icon("user", size=14), "My account", on_click=rx.redirect("/me")),
            rx.menu.item(rx.icon("shield-check", size=14), "Two-factor authentication: on", disabled=True),
            rx.menu.item(rx.icon("key-round", size=14), "New recovery codes…", on_click=RecoveryCodesState.ask,
                         id="menu-recovery-codes"),
            rx.menu.separator(),
            rx.menu.item(rx.icon("log-out", size=14), "Sign out", on_click=SessionState.sign_out, id="sign-out",
                         color_scheme="red"),
        ),
    )


def header(spec: PageSpec) -> rx.Component:
    return header_bar(
        rx.icon_button(rx.icon("menu", size=20), variant="ghost", color_scheme="gray", size="3",
                       aria_label="Open navigation", on_click=ShellState.set_drawer(True), id="nav-toggle",
                       style={WIDE: {"display": "none"}}),
        rx.heading(spec.title, size="5", as_="h1", id="page-title", truncate=True),
        rx.spacer(),
        org_context(spec.all_orgs),
        notice_bell(),
        rx.color_mode.button(id="color-mode-toggle"),
        user_menu(),
        padding_x=rx.breakpoints(initial="1rem", sm="1.5rem"),
        position="sticky",
        top="0",
        z_index="10",
    )


def _needs_org(spec: PageSpec) -> rx.Component:
    return rx.callout(
        "Choose an organization in the switcher at the top right to work on this page.",
        icon="building-2", width="100%", id="choose-org",
    )


def shell(spec: PageSpec) -> rx.Component:
    body = spec.body()
    if not spec.all_orgs:
        body = rx.cond(ShellState.has_org, body, _needs_org(spec))
    return rx.box(
        rx.hstack(
            sidebar(spec.item.key),
            rx.box(
                header(spec),
                content_column(
                    rx.cond(ShellState.error != "", rx.callout(ShellState.error, icon="triangle-alert",
                                                               color_scheme="red", width="100%", role="alert",
                                                               margin_bottom="1rem")),
                    body,
                    max_width="1400px",
                    padding=rx.breakpoints(initial="1rem", sm="1.5rem"),
                ),
                flex="1",
                min_width="0",
            ),
            spacing="0",
            align="start",
            width="100%",
        ),
        drawer(spec.item.key),
        step_up_dialog(),
        recovery_codes_dialog(),
        min_height="100vh",
        width="100%",
        background_color=styles.auth_page_background,
    )


def landing() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100vh", width="100%")


def register_pages(app: rx.App) -> None:
    """Add every page registered with `@public_page` or `@admin_page` (and `/admin`, which leads to the role's
    first page)."""
    for feature in pkgutil.iter_modules(features.__path__):
        package = importlib.import_module(f"{features.__name__}.{feature.name}")
        for mod in pkgutil.iter_modules(package.__path__):
            if mod.name == "page" or mod.name.endswith("_page"):
                importlib.import_module(f"{package.__name__}.{mod.name}")
    for page in PUBLIC_PAGES:
        app.add_page(page.body, route=page.route, title=page.title, on_load=page.on_load)
    app.add_page(landing, route="/admin", title="Admin Panel · Steward", on_load=ShellState.land)
    for spec in PAGES.values():
        app.add_page(lambda spec=spec: shell(spec), route=spec.item.route, title=f"{spec.title} · Steward",
                     on_load=[ShellState.load(spec.item.key), *spec.on_load, NoticeState.load])
