"""Sign-in, MFA enrolment and verification, the member page, the admin page, org switching and sign out,
in the real app on the demo data (see conftest.py)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

DEMO_PASSWORD = "steward-demo"
WIDTHS = {"desktop": 1400, "narrow": 800}
T = 30_000


def shoot(page: Page, screenshots_dir, name: str) -> None:
    """Full-page screenshots at 1400 px and 800 px (then back to desktop width)."""
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("window.scrollTo(0, 0)")  # sticky header/sidebar otherwise land mid-page in the shot
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshots_dir / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def path_is(page: Page, path: str) -> None:
    expect(page).to_have_url(re.compile(rf"^https?://[^/]+{re.escape(path)}/?(\?.*)?$"), timeout=T)


def sign_in(page: Page, app_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{app_url}/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=T)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def enrol_mfa(page: Page, screenshots_dir=None, shot: str | None = None) -> str:
    """On /mfa/setup: read the secret shown on the page, confirm with a pyotp code, save the recovery codes."""
    path_is(page, "/mfa/setup")
    secret_el = page.locator("#mfa-secret")
    expect(secret_el).to_have_text(re.compile(r"^[A-Z2-7]{16,}$"), timeout=T)
    expect(page.locator("#mfa-qr")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#mfa-qr').complete", timeout=T)
    assert page.locator("#mfa-qr").evaluate("img => img.naturalWidth") > 0  # the QR image really loads
    secret = secret_el.inner_text().strip()
    if shot:
        shoot(page, screenshots_dir, shot)
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on MFA").click()
    codes = page.locator("#recovery-codes code")
    expect(codes).to_have_count(10, timeout=T)
    if shot:
        shoot(page, screenshots_dir, "mfa-recovery-codes")
    page.get_by_role("button", name="I have saved my recovery codes").click()
    return secret


def dark_mode(page: Page) -> None:
    """Switch to dark mode with the header's toggle. A click that lands while the page is still hydrating can be
    undone by the colour-mode provider's first render: click again until the class sticks."""
    for _ in range(5):
        page.locator("#color-mode-toggle").click()
        try:
            expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"), timeout=2_000)
            break
        except AssertionError:
            continue
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.wait_for_timeout(500)
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))


def sign_out(page: Page) -> None:
    """The Admin Panel has sign-out in the user menu; the member page has a button."""
    if page.locator("#user-menu").count():
        page.locator("#user-menu").click()
    page.locator("#sign-out").first.click()
    path_is(page, "/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=T)


def test_admin_enrols_mfa_signs_out_and_verifies(page: Page, app_url: str, screenshots_dir):
    sign_in(page, app_url, "admin@acme.example")
    secret = enrol_mfa(page, screenshots_dir, shot="mfa-setup")

    path_is(page, "/admin/users")  # /admin leads an org admin to User Management
    expect(page.locator("#page-title")).to_have_text("User Management", timeout=T)
    expect(page.locator("#org-badge")).to_contain_text("Acme Corp")
    expect(page.locator("#org-switcher")).to_have_count(0)  # org admins have no switcher
    shoot(page, screenshots_dir, "admin-org-admin")

    sign_out(page)
    page.goto(f"{app_url}/admin")
    path_is(page, "/login")
    assert page.evaluate("() => window.localStorage.getItem('steward_session') || ''") == ""

    # Second sign-in: MFA is set up, so the verification page asks for a code. The enrolment code was
    # used already (each code works once): take the next time step's code.
    sign_in(page, app_url, "admin@acme.example")
    path_is(page, "/mfa/verify")
    expect(page.get_by_role("button", name="Verify")).to_be_visible(timeout=T)
    page.get_by_label("Authentication code").fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#form-error")).to_contain_text("not valid", timeout=T)
    shoot(page, screenshots_dir, "mfa-verify")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    path_is(page, "/admin/users")
    expect(page.locator("#user-table")).to_contain_text("admin@acme.example", timeout=T)
    sign_out(page)


def test_member_lands_on_me_and_cannot_reach_admin(page: Page, app_url: str, screenshots_dir):
    sign_in(page, app_url, "member@acme.example")
    path_is(page, "/me")
    expect(page.locator("#stat-allocation")).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=T)
    expect(page.locator("#stat-resets")).to_have_text(re.compile(r"\d{4}$"))
    expect(page.get_by_text("Used this month")).to_be_visible()
    expect(page.get_by_text("Remaining", exact=True)).to_be_visible()
    shoot(page, screenshots_dir, "member")

    page.goto(f"{app_url}/admin/users")
    path_is(page, "/me")
    expect(page.locator("#user-table")).to_have_count(0)
    sign_out(page)
    page.goto(f"{app_url}/me")
    path_is(page, "/login")


def test_super_admin_switches_org(page: Page, app_url: str, screenshots_dir):
    sign_in(page, app_url, "super@steward.example")
    enrol_mfa(page)
    page.goto(f"{app_url}/admin/users")
    expect(page.locator("#choose-org")).to_be_visible(timeout=T)  # no org chosen yet: management pages ask
    expect(page.locator("#org-switcher")).to_contain_text("All organizations")

    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    page.locator("#org-switcher").click()
    options = page.locator(".org-option")
    expect(options).to_have_count(4, timeout=T)  # the four demo orgs ("All" only on analytics pages)
    page.locator("#org-search").fill("glob")
    expect(options).to_have_count(1)
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots_dir / "admin-org-switcher-desktop.png"))  # 1400 px, popover open
    options.filter(has_text="Globex Research").click()

    expect(page.locator("#org-switcher")).to_contain_text("Globex Research", timeout=T)
    expect(page.locator("#user-table")).to_contain_text("admin@globex.example", timeout=T)
    page.reload()
    expect(page.locator("#org-switcher")).to_contain_text("Globex Research", timeout=T)  # kept on the session
    expect(page.locator("#user-table")).not_to_contain_text("acme.example")
    shoot(page, screenshots_dir, "admin-super")
    sign_out(page)


@pytest.mark.parametrize("route,heading", [("/forgot-password", "Forgot your password?"),
                                           ("/reset-password?token=not-a-valid-token-at-all-000",
                                            "Choose a new password")])
def test_password_pages(page: Page, app_url: str, screenshots_dir, route: str, heading: str):
    page.goto(f"{app_url}{route}")
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=T)
    slug = route.split("?")[0].strip("/")
    shoot(page, screenshots_dir, slug)
    if slug == "forgot-password":
        page.get_by_label("Email").fill("someone@acme.example")
        page.get_by_role("button", name="Send reset link").click()
        expect(page.locator("#reset-requested")).to_contain_text("If an account exists", timeout=T)
    else:
        page.get_by_label("New password", exact=True).fill("a-brand-new-password")
        page.get_by_label("Repeat the new password").fill("a-brand-new-password")
        page.get_by_role("button", name="Set new password").click()
        expect(page.locator("#form-error")).to_contain_text("invalid or has expired", timeout=T)
    shoot(page, screenshots_dir, f"{slug}-submitted")
