"""The scaled setup end to end: PostgreSQL + Redis, 2 backend workers, the real frontend in Chromium.

- two worker processes serve the app (process listing, and websocket connections answered by both PIDs);
- a tab's state lives in Redis: signed in through one worker, the same tab goes on through the other;
- in the browser: sign-in → MFA enrolment (pyotp code from the shown secret) → User Management → approve a
  token request, with a second admin's browser session open at the same time: each sees the other's changes;
- the Redis server restarts (every key lost): both browsers reload and are still themselves, signed in.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_auth_flow import DEMO_PASSWORD, T, enrol_mfa, path_is, shoot, sign_in
from tests.security.sio import RawSocket

from .cluster import App, RedisServer
from .conftest import WORKERS

ADMIN, OPS, MEMBER = "admin@acme.example", "ops-admin@acme.example", "member@acme.example"


def _state(name: str) -> str:
    import admin_panel.admin_panel  # noqa: F401  (registers the states)
    from admin_panel.features.member.state import MemberState
    from admin_panel.features.signin.state import LoginState

    return {"login": LoginState, "member": MemberState}[name].get_full_name()


def _socket(app: App, client_token: str | None = None, storage: dict | None = None, route: str = "/login"):
    """A hydrated raw websocket (optionally the same tab reconnecting: its client token, and the browser storage
    it sends on every connect), the hydrate answer's delta and the worker process serving it."""
    sock = RawSocket(app.url, router_path=route)
    if client_token:
        sock.client_token = client_token
    sock.connect({"name": "reflex___state____state.hydrate_and_load", "payload": {"vars": storage or {}}})
    hydrated = sock.receive_until(lambda u: "reflex___state____state" in u.delta)
    delta = {k: v for u in hydrated for k, v in u.delta.items()}
    return sock, delta, app.worker_of(sock.ws.sock.getsockname()[1])


def test_two_workers_serve_the_app(browser_app: App):
    assert len(browser_app.worker_pids()) == WORKERS
    served: dict[int, int] = {}
    sockets = []
    for _ in range(40):  # the kernel spreads new connections over the workers' accept queue
        sock, _delta, pid = _socket(browser_app)  # each one answered its hydrate event
        sockets.append(sock)
        served[pid] = served.get(pid, 0) + 1
        if len(served) >= 2 and _ >= 8:
            break
    for sock in sockets:
        sock.close()
    print(f"hydrate events answered per worker: {served}")
    assert None not in served
    assert len(served) >= 2 and set(served) <= set(browser_app.worker_pids())


def test_a_tab_continues_on_the_other_worker(browser_app: App):
    """A member signs in and opens their page over a websocket served by one worker; the same tab reconnects
    (as a browser does: same client token, its local storage) and lands on the other worker, which hands back
    the page's state loaded by the first one and goes on serving the session: the state lives in Redis."""
    from tests.security.tab import token_key

    member, auth = _state("member"), token_key().rsplit(".", 1)[0]
    first, _delta, pid = _socket(browser_app)
    first.emit(f"{_state('login')}.sign_in", {"form_data": {"email": MEMBER, "password": DEMO_PASSWORD}})
    got = first.receive_until(lambda u: bool(u.redirects))
    assert got[-1].redirects == ["/me"]
    token = next(u.delta[auth]["token_rx_state_"] for u in got if auth in u.delta)  # the browser stores it
    first.emit(f"{member}.load", {})
    loaded = first.receive_until(lambda u: member in u.delta)[-1].delta[member]
    allocation = loaded["allocation_rx_state_"]
    assert allocation
    first.close()
    for _ in range(40):
        again, hydrated, other = _socket(browser_app, first.client_token, {token_key(): token}, route="/me")
        if other != pid:
            break
        again.close()
    assert other not in (pid, None), "no connection landed on the second worker"
    assert hydrated[member]["allocation_rx_state_"] == allocation  # loaded by the first worker, kept in Redis
    again.emit(f"{member}.load", {})
    updates = again.receive_until(lambda u: member in u.delta and "email_rx_state_" in u.delta[member])
    again.close()
    redirects = [r for u in updates for r in u.redirects]
    assert not redirects, f"the other worker did not serve the session: {redirects}"
    assert updates[-1].delta[member]["email_rx_state_"] == MEMBER


def _sign_in_admin(page: Page, url: str, email: str, screenshots_dir=None) -> str:
    sign_in(page, url, email)
    secret = enrol_mfa(page, screenshots_dir, shot="scale-mfa-setup" if screenshots_dir else None)
    path_is(page, "/admin/users")
    expect(page.locator(".user-row").first).to_be_visible(timeout=T)
    return secret


def _cap_input(page: Page, url: str, email: str):
    """The email's monthly cap field in User Management (searched on the server)."""
    if not re.search(r"/admin/users/?$", page.url):
        page.goto(f"{url}/admin/users")
    page.locator("#user-search").fill(email)
    rows = page.locator(".user-row")
    expect(rows).to_have_count(1, timeout=T)
    expect(rows.first).to_contain_text(email, timeout=T)
    return rows.first.locator(".cap-input input, input.cap-input").first


def _cap_of(page: Page, url: str, email: str) -> int:
    return int(_cap_input(page, url, email).input_value().replace(",", ""))


def _expect_cap(page: Page, url: str, email: str, cap: int) -> None:
    """The page shows this cap (a reloaded page first shows the tab's state, then its on_load refreshes it)."""
    expect(_cap_input(page, url, email)).to_have_value(f"{cap:,}", timeout=T)


def _menu_email(page: Page) -> str:
    """The signed-in user's email, as the user menu shows it (its first line)."""
    page.locator("#user-menu").click()
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible(timeout=T)
    text = menu.inner_text()
    page.keyboard.press("Escape")
    return text.strip().splitlines()[0].strip()


def test_two_admins_on_two_sessions_see_each_others_changes(browser_app: App, browser: Browser,
                                                            redis_server: RedisServer, screenshots_dir):
    url = browser_app.url
    a = browser.new_context().new_page()
    b = browser.new_context().new_page()
    _sign_in_admin(a, url, ADMIN, screenshots_dir)
    _sign_in_admin(b, url, OPS)  # both sessions stay open from here on
    shoot(a, screenshots_dir, "scale-users")

    # A picks the first pending request; B reads that user's cap.
    a.goto(f"{url}/admin/requests")
    row = a.locator("#requests-table tbody tr").filter(has=a.get_by_role("button", name="Approve")).first
    expect(row).to_be_visible(timeout=T)
    email = row.locator("td").nth(0).inner_text().strip()
    amount = int(row.locator("td").nth(1).inner_text().replace(",", "").split()[0])
    before = _cap_of(b, url, email)

    # A approves it; B (another worker or the same: the state and the data are shared) sees the new cap.
    row.get_by_role("button", name="Approve").click()
    expect(a.locator("#approve-amount")).to_have_value(re.compile(r"\d"), timeout=T)
    a.wait_for_timeout(600)  # the amount is checked after a short pause
    shoot(a, screenshots_dir, "scale-requests-approve")
    a.locator("#approve-confirm").click()
    expect(a.get_by_text(re.compile(rf"Approved [\d,]+ tokens for {re.escape(email)}"))).to_be_visible(timeout=T)
    b.reload()
    _expect_cap(b, url, email, before + amount)
    b.goto(f"{url}/admin/requests")
    b.locator("#tab-approved").click()
    expect(b.locator("#requests-table")).to_contain_text(email, timeout=T)

    # B edits that user's cap inline and saves; A sees it.
    _expect_cap(b, url, email, before + amount)
    cap = _cap_input(b, url, email)
    cap.fill("777,000")
    cap.press("Tab")
    expect(b.locator("#edit-bar")).to_contain_text("1 unsaved", timeout=T)
    b.locator("#save-edits").click()
    expect(b.locator("#users-notice")).to_contain_text("Saved 1 user", timeout=T)
    _expect_cap(a, url, email, 777_000)
    shoot(b, screenshots_dir, "scale-users-second-session")

    a.goto(f"{url}/admin/statistics")
    expect(a.locator(".js-plotly-plot").first).to_be_visible(timeout=T)
    a.wait_for_timeout(1500)
    shoot(a, screenshots_dir, "scale-statistics")

    # Redis restarts (no persistence: every tab's state is gone). Each browser still holds its own opaque
    # session token, so after a reload each is itself again, never the other one.
    redis_server.restart()
    for page, who in ((a, ADMIN), (b, OPS)):
        page.goto(f"{url}/admin/users")
        path_is(page, "/admin/users")
        expect(page.locator(".user-row").first).to_be_visible(timeout=T)
        assert _menu_email(page) == who
    _expect_cap(a, url, email, 777_000)
    a.context.close()
    b.context.close()
