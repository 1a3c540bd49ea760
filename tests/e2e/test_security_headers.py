"""The app under its Content-Security-Policy in Chromium, and the security headers of the real server.

Every page loads with no CSP violation (`securitypolicyviolation` events) and no console error or warning: the
public pages, and every admin page as an org admin (MFA enrolment with its QR image, then verification), a
member and a super admin (who also switches the organization: the page reloads without eval). Token Statistics
draws its Plotly charts. Every page response carries the CSP; /api/v1, /downloads and static assets carry the
fixed headers, and a foreign Origin gets no CORS answer. Accounts of its own (demo accounts no other browser test
signs in, and a super admin created here): the other tests' MFA enrolments do not matter.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pyotp
import pytest
from playwright.sync_api import Page, expect

from admin_panel.shell.nav import visible_items

from .conftest import ROOT
from .test_auth_flow import T, enrol_mfa, path_is, shoot, sign_in, sign_out

ORG_ADMIN, MEMBER = "ops-admin@globex.example", "member@initech.example"
ROOT_EMAIL, ROOT_PASSWORD = "csp-root@steward.example", "csp-root-password-1"
EVIL = "https://evil.example"
PUBLIC = {  # route: the heading it shows
    "/": "Steward",
    "/login": "Steward",
    "/register": "Create an account",
    "/forgot-password": "Forgot your password?",
    "/reset-password?token=not-a-valid-token-at-all-000": "Choose a new password",
    "/verify-email?token=not-a-valid-token-at-all-000": "Confirm your e-mail",
    "/invite?token=not-a-valid-token-at-all-000": "Welcome to Steward",
}
FIXED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


class Watch:
    """What the browser reported: CSP violations, console errors and warnings, page (document) responses."""

    def __init__(self, page: Page):
        self.violations: list[dict] = []
        self.console: list[str] = []
        self.documents: list[tuple[str, int, dict]] = []
        page.expose_binding("__cspViolation", lambda source, v: self.violations.append({**v, "page": page.url}))
        page.add_init_script("document.addEventListener('securitypolicyviolation', e => window.__cspViolation("
                             "{directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample,"
                             " source: e.sourceFile, line: e.lineNumber}))")
        page.on("console", self._console)
        page.on("response", lambda r: r.request.resource_type == "document" and self.documents.append(
            (r.url, r.status, r.all_headers())))

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):  # a missing /favicon.ico (assets/) would show here too
            self.console.append(f"{message.type}: {message.text} ({message.location.get('url')})")

    def check(self) -> None:
        assert self.violations == []
        assert self.console == []
        pages = [(url, headers) for url, status, headers in self.documents if status == 200]
        assert pages
        for url, headers in pages:
            policy = headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in policy and "'sha256-" in policy, (url, policy)
            script_src = re.search(r"script-src ([^;]*)", policy).group(1)
            assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, (url, policy)
            assert {k: headers.get(k) for k in FIXED} == FIXED, url


@pytest.fixture
def watch(page: Page) -> Watch:
    return Watch(page)


def _admin_pages(page: Page, app_url: str, role: str, screenshots_dir=None) -> None:
    for item in visible_items(role):
        page.goto(f"{app_url}{item.route}")
        path_is(page, item.route)
        expect(page.locator("#page-title")).to_have_text(item.label, timeout=T)
        if item.key == "stats":  # Plotly under the CSP: the usage chart is drawn with its data
            expect(page.locator("#chart-over_time .main-svg").first).to_be_visible(timeout=T)
            page.wait_for_function("() => { const g = document.getElementById('chart-over_time');"
                                   " return g && g.data && g.data.some(t => (t.x || []).length > 0) }", timeout=T)
            if screenshots_dir is not None:
                shoot(page, screenshots_dir, "csp-statistics")


def test_public_pages_under_the_csp(page: Page, app_url: str, watch: Watch):
    for route, heading in PUBLIC.items():
        page.goto(f"{app_url}{route}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=T)
    # The websocket works: the invitation page's on_load answered (an unknown token).
    expect(page.locator("#form-error")).to_be_visible(timeout=T)
    # The policy is in force, not only sent: an injected inline script does not run, and is reported.
    assert page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                         " document.head.appendChild(s); return window.__ran === undefined }")
    for _ in range(50):  # the report arrives as an event, after the script was refused
        if watch.violations:
            break
        page.wait_for_timeout(100)
    assert [v["directive"] for v in watch.violations] == ["script-src-elem"]
    watch.violations.clear()
    watch.console = [m for m in watch.console if "Content Security Policy" not in m]
    watch.check()


def test_org_admin_every_page_under_the_csp(page: Page, app_url: str, watch: Watch, screenshots_dir):
    sign_in(page, app_url, ORG_ADMIN)
    secret = enrol_mfa(page)  # the QR code (an SVG data URI) loads: checked inside
    path_is(page, "/admin/users")
    _admin_pages(page, app_url, "admin", screenshots_dir)
    page.goto(f"{app_url}/me")
    expect(page.locator("#member-heading")).to_be_visible(timeout=T)
    sign_out(page)
    sign_in(page, app_url, ORG_ADMIN)
    path_is(page, "/mfa/verify")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    path_is(page, "/admin/users")
    expect(page.locator("#user-table")).to_contain_text(ORG_ADMIN, timeout=T)
    watch.check()


def test_member_pages_under_the_csp(page: Page, app_url: str, watch: Watch):
    sign_in(page, app_url, MEMBER)
    path_is(page, "/me")
    expect(page.locator("#stat-allocation")).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=T)
    page.goto(f"{app_url}/enterprise/request")
    expect(page.locator("#enterprise-heading")).to_be_visible(timeout=T)
    page.goto(f"{app_url}/admin/users")
    path_is(page, "/me")  # not theirs: sent back
    expect(page.locator("#member-heading")).to_be_visible(timeout=T)
    expect(page.locator("#user-menu")).to_have_count(0, timeout=T)  # the shell is gone before signing out
    sign_out(page)
    watch.check()


def test_super_admin_every_page_under_the_csp(page: Page, app_url: str, app_env: dict, watch: Watch):
    subprocess.run([sys.executable, "-m", "services.ops.cli", "create-superadmin", "--email", ROOT_EMAIL,
                    "--password", ROOT_PASSWORD], cwd=ROOT, env=app_env, check=True, timeout=120)
    sign_in(page, app_url, ROOT_EMAIL, ROOT_PASSWORD)
    enrol_mfa(page)
    _admin_pages(page, app_url, "super_admin")
    page.goto(f"{app_url}/admin/users")
    expect(page.locator("#choose-org")).to_be_visible(timeout=T)
    page.locator("#org-switcher").click()
    page.locator("#org-search").fill("initech")
    page.locator(".org-option", has_text="Initech Labs").click()  # reloads the page in that org
    expect(page.locator("#org-switcher")).to_contain_text("Initech Labs", timeout=T)
    expect(page.locator("#user-table")).to_contain_text("admin@initech.example", timeout=T)
    sign_out(page)
    watch.check()


def _get(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}


def test_api_downloads_and_assets_carry_the_headers_and_no_cors_for_a_foreign_origin(app_url: str):
    with urllib.request.urlopen(f"{app_url}/login/", timeout=30) as response:
        html = response.read().decode()
    asset = re.search(r'src="(/assets/[^"]+\.js)"', html) or re.search(r'href="(/assets/[^"]+\.js)"', html)
    foreign = {"Origin": EVIL, "Cookie": "steward=1", "X-Forwarded-Proto": "https"}  # no proxy is trusted
    for url, expected in ((f"{app_url}/api/v1/openapi.json", 200), (f"{app_url}/api/v1/org/summary", 401),
                          (f"{app_url}/downloads/no-such-job?token=x", 404), (f"{app_url}{asset.group(1)}", 200)):
        status, headers = _get(url, headers=foreign)
        assert status == expected, url
        assert {k: headers.get(k) for k in FIXED} == FIXED, (url, headers)
        assert "strict-transport-security" not in headers, url
        if "/assets/" not in url:  # the assets keep Reflex's CORS (public files; see admin_panel/api/cors.py)
            assert not [k for k in headers if k.startswith("access-control-")], (url, headers)
    for path in ("/api/v1/usage", "/downloads/no-such-job"):
        status, headers = _get(f"{app_url}{path}", "OPTIONS", {"Origin": EVIL, "Access-Control-Request-Method": "POST",
                                                               "Access-Control-Request-Headers": "authorization"})
        assert status == 403 and not [k for k in headers if k.startswith("access-control-")], (path, headers)
