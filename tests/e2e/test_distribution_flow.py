"""Browser: preset switch → preview → execute → history entry; a member requests training tokens → the admin
approves part of it until a date → the member sees the new allocation → once the clock passes the date
(`run-jobs --now`), the grant is taken back. Globex's admin and member: no other browser test touches them."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ROOT
from tests.e2e.test_auth_flow import T, enrol_mfa, path_is, shoot, sign_in


@pytest.fixture
def app(app_url: str, app_env: dict) -> tuple[str, dict]:
    """The shared app (one frontend build serves one port: a second app would rebuild `.web` under it)."""
    return app_url, app_env


def _training_cap(member: Page) -> str:
    """The member's training allocation, once the page has loaded it ("used / allocation")."""
    stat = member.locator("#stat-training")
    expect(stat).to_contain_text(re.compile(r"\d[\d,]* / \d[\d,]*"), timeout=T)
    return stat.inner_text().split("/")[1].strip()


def test_distribution_and_a_temporary_grant(page: Page, browser: Browser, app, screenshots_dir):
    url, env = app
    # --- admin: preset switch → preview → execute → history entry
    sign_in(page, url, "admin@globex.example")
    enrol_mfa(page)
    path_is(page, "/admin")
    page.goto(f"{url}/admin/distribution")
    expect(page.locator("#card-purchased")).not_to_have_text("", timeout=T)
    page.locator("#preset-standard").click()
    expect(page.locator("#preset-badge")).to_have_text("Standard", timeout=T)
    page.locator("#preview").click()
    expect(page.locator("#preview-table tbody tr").first).to_be_visible(timeout=T)
    expect(page.locator("#preview-totals")).to_contain_text("Distributable")
    shoot(page, screenshots_dir, "distribution-preview")
    page.locator("#execute").click()
    page.locator("#execute-confirm").click()
    expect(page.locator("#dist-notice")).to_contain_text("Distribution #", timeout=T)
    expect(page.locator("#history-table tbody tr")).to_have_count(1, timeout=T)
    shoot(page, screenshots_dir, "distribution-history")

    # --- member asks for training tokens
    member = browser.new_context().new_page()
    sign_in(member, url, "member@globex.example")
    path_is(member, "/me")
    before = _training_cap(member)
    member.locator("#request-kind").click()
    member.get_by_role("option", name="training").click()
    member.locator("#request-amount").fill("300000")
    member.locator("#request-reason").fill("Vectorizing the policy library.")
    member.locator("#request-submit").click()
    expect(member.locator("#request-notice")).to_contain_text("Request sent", timeout=T)
    expect(member.locator("#my-requests")).to_contain_text("pending")

    # --- admin approves 100,000 of it until a date
    expires = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")
    page.goto(f"{url}/admin/requests")
    row = page.locator("#requests-table tbody tr", has_text="member@globex.example").filter(has_text="training")
    expect(row).to_have_count(1, timeout=T)
    row.get_by_role("button", name="Approve").click()
    page.locator("#approve-amount").fill("100000")
    page.locator("#approve-expires").fill(expires)
    page.wait_for_timeout(600)  # the amount is checked after a short pause (pool warning)
    shoot(page, screenshots_dir, "requests-approve")
    page.locator("#approve-confirm").click()
    expect(page.get_by_text("Approved 100,000 tokens for member@globex.example")).to_be_visible(timeout=T)

    # --- the member sees the new allocation
    member.reload()
    expect(member.locator("#my-requests")).to_contain_text(f"until {expires}", timeout=T)
    after = _training_cap(member)
    assert int(after.replace(",", "")) == int(before.replace(",", "")) + 100_000

    # --- the clock passes the date: the grant is taken back
    later = (datetime.now(UTC) + timedelta(days=11)).isoformat()
    out = subprocess.run([sys.executable, "-m", "services.ops.cli", "run-jobs", "--now", later], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert "grant_expiry: 1" in out
    member.reload()
    expect(member.locator("#stat-training")).to_contain_text("/ " + before, timeout=T)
