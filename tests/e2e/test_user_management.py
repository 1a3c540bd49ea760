"""User Management in Chromium: sidebar vs drawer, search and paging, inline edit kept across pages and saved,
ban with confirmation. Screenshots at 1400 px and 800 px."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import Page, expect

from .test_auth_flow import T, enrol_mfa, path_is, shoot, sign_in, sign_out

ADMIN = "ops-admin@acme.example"


SECRETS: dict[str, str] = {}


def _open_users(page: Page, app_url: str) -> None:
    """Sign in as the ops admin: MFA enrolment the first time, verification (next time step's code) after."""
    sign_in(page, app_url, ADMIN)
    page.wait_for_url(re.compile(r".*/mfa/(setup|verify)/?$"), timeout=T)
    if ADMIN not in SECRETS:
        SECRETS[ADMIN] = enrol_mfa(page)
    else:
        page.get_by_label("Authentication code").fill(pyotp.TOTP(SECRETS[ADMIN]).at(time.time() + 30))
        page.get_by_role("button", name="Verify").click()
    path_is(page, "/admin/users")
    expect(page.locator(".user-row").first).to_be_visible(timeout=T)


def test_sidebar_on_desktop_drawer_below_1200(page: Page, app_url: str, screenshots_dir):
    _open_users(page, app_url)
    page.set_viewport_size({"width": 1400, "height": 900})
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator("#nav-toggle")).to_be_hidden()
    expect(page.locator("#nav-users")).to_have_attribute("aria-current", "page")
    expect(page.locator("#nav-orgs")).to_have_count(0)  # super admin only
    shoot(page, screenshots_dir, "users")

    page.set_viewport_size({"width": 800, "height": 900})
    expect(page.locator("#sidebar")).to_be_hidden()
    page.locator("#nav-toggle").click()
    drawer = page.locator("#nav-drawer")
    expect(drawer).to_be_visible(timeout=T)
    page.screenshot(path=str(screenshots_dir / "users-drawer-narrow.png"))
    page.locator("#nav-users-drawer").click()
    expect(drawer).to_be_hidden(timeout=T)
    path_is(page, "/admin/users")
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_out(page)


def test_search_paging_inline_edit_and_ban(page: Page, app_url: str, screenshots_dir):
    _open_users(page, app_url)
    rows = page.locator(".user-row")
    expect(page.locator("#range-label")).to_have_text(re.compile(r"^1–25 of \d+$"), timeout=T)
    total = int(page.locator("#range-label").inner_text().split(" of ")[1].replace(",", ""))
    assert total > 25

    # Edit a cap on page 1, go to page 2 and back: the edit is still there; then save it.
    first = rows.first
    first_email = first.locator("td").nth(3).inner_text()
    cap = first.locator(".cap-input input, input.cap-input").first
    cap.fill("345,000")
    cap.press("Tab")
    expect(page.locator("#edit-bar")).to_contain_text("1 unsaved", timeout=T)
    page.locator("#next-page").click()
    expect(page.locator("#page-label")).to_have_text(re.compile(r"^Page 2 of"), timeout=T)
    expect(page.locator("#range-label")).to_have_text(re.compile(r"^26–"))
    page.locator("#prev-page").click()
    expect(page.locator("#page-label")).to_have_text(re.compile(r"^Page 1 of"), timeout=T)
    expect(rows.first.locator(".cap-input input, input.cap-input").first).to_have_value("345,000")
    shoot(page, screenshots_dir, "users-unsaved-edit")
    page.locator("#save-edits").click()
    expect(page.locator("#users-notice")).to_contain_text("Saved 1 user", timeout=T)
    page.reload()
    expect(rows.first.locator(".cap-input input, input.cap-input").first).to_have_value("345,000", timeout=T)
    assert rows.first.locator("td").nth(3).inner_text() == first_email

    # Search: every word must match.
    page.locator("#user-search").fill("demo member")
    expect(rows).to_have_count(1, timeout=T)
    expect(rows.first).to_contain_text("member@acme.example")

    # Ban with a reason, through the confirmation dialog.
    rows.first.locator(".row-actions").click()
    page.locator(".action-ban").click()
    expect(page.get_by_role("alertdialog")).to_be_visible(timeout=T)
    page.locator("#ban-reason").fill("Shared the account")
    shoot(page, screenshots_dir, "users-ban-dialog")
    page.locator("#confirm-action").click()
    expect(page.locator("#users-notice")).to_contain_text("member@acme.example", timeout=T)
    expect(rows.first).to_contain_text("Banned")
    # and lift it again (the member page tests sign in as this member)
    rows.first.locator(".row-actions").click()
    page.locator(".action-unban").click()
    page.locator("#confirm-action").click()
    expect(rows.first).not_to_contain_text("Banned", timeout=T)
    sign_out(page)
