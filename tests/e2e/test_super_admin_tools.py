"""Super-admin tools in the real app: someone registers with a domain no organization claims, a super admin
puts them into Acme from Organizations → Unassigned users, then in User Management creates a password reset
link for them (shown once in the dialog), replaces their own recovery codes; the link sets a new password.
Someone then guesses the newcomer's password: the super admin unlocks it from Activity Logs → Throttled sign-ins.
A super admin of its own (other tests enrol the demo super admin's MFA)."""

from __future__ import annotations

import re
import subprocess
import sys

from playwright.sync_api import Page, expect
from sqlmodel import Session

from services.auth import throttle
from services.core.db import make_engine

from .conftest import ROOT
from .test_auth_flow import T, dark_mode, enrol_mfa, path_is, shoot, sign_in

ROOT_EMAIL, ROOT_PASSWORD = "tools-root@steward.example", "tools-root-password-1"
NEWCOMER = "drifter@freemail.example"


def _more_failures(app_env: dict, key: str, n: int) -> None:
    """Set-up through the service: n more failures on a throttle key of the app's database."""
    engine = make_engine(app_env["REFLEX_DB_URL"])
    try:
        with Session(engine) as s:
            for _ in range(n):
                throttle.fail(s, [key])
            s.commit()
    finally:
        engine.dispose()


def test_assign_an_unassigned_user_and_create_a_reset_link(page: Page, app_url: str, app_env: dict,
                                                            screenshots_dir):
    subprocess.run([sys.executable, "-m", "services.ops.cli", "create-superadmin", "--email", ROOT_EMAIL,
                    "--password", ROOT_PASSWORD], cwd=ROOT, env=app_env, check=True, timeout=120)

    # 1. Someone registers with a domain that no organization claims: they wait unassigned.
    page.goto(f"{app_url}/register")
    page.get_by_label("Work e-mail").fill(NEWCOMER)
    page.get_by_label("Name").fill("Dana Drifter")
    page.get_by_label("Password", exact=True).fill("drifter-first-password")
    page.get_by_label("Repeat the password").fill("drifter-first-password")
    page.locator("#register-submit").click()
    expect(page.locator("#registered")).to_be_visible(timeout=T)

    # 2. The super admin finds them under Organizations → Unassigned users and puts them into Acme.
    sign_in(page, app_url, ROOT_EMAIL, password=ROOT_PASSWORD)
    enrol_mfa(page)
    path_is(page, "/admin/organizations")
    page.locator("#tab-unassigned").click()
    row = page.locator(".unassigned-row").filter(has_text=NEWCOMER)
    expect(row).to_have_count(1, timeout=T)
    shoot(page, screenshots_dir, "organizations-unassigned")
    row.locator("button.assign-submit").click()  # nothing chosen yet: a clear message, nothing changes
    expect(page.locator("#unassigned-error")).to_have_text("Choose an organization first.", timeout=T)
    row.locator("select.assign-org").select_option(label="Acme Corp")
    row.locator("button.assign-submit").click()
    expect(page.locator("#unassigned-notice")).to_contain_text(f"{NEWCOMER} joined Acme Corp", timeout=T)
    expect(page.locator(".unassigned-row").filter(has_text=NEWCOMER)).to_have_count(0)

    # 3. Working in Acme, User Management lists them (unpaid); the super admin creates a reset link.
    page.locator("#tab-orgs").click()
    page.locator(".org-row .org-name", has_text="Acme Corp").click()
    path_is(page, "/admin/users")
    page.locator("#user-search").fill("drifter")
    rows = page.locator(".user-row")
    expect(rows).to_have_count(1, timeout=T)
    expect(rows.first).to_contain_text(NEWCOMER)
    rows.first.locator(".row-actions").click()
    page.locator(".action-reset_link").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("single-use link", timeout=T)
    page.locator("#confirm-action").click()
    link_box = page.locator("#action-link")
    expect(link_box).to_have_value(re.compile(r"/reset-password\?token="), timeout=T)
    expect(page.locator("#action-link-note")).to_contain_text("works once")
    shoot(page, screenshots_dir, "users-reset-link")
    link = link_box.input_value()
    page.locator("#action-done").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0, timeout=T)

    # 4. The super admin replaces their own recovery codes from the user menu (MFA verified minutes ago).
    page.locator("#user-menu").click()
    page.locator("#menu-recovery-codes").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("stop working", timeout=T)
    page.locator("#recovery-regenerate").click()
    expect(page.locator("#new-recovery-codes code")).to_have_count(10, timeout=T)
    shoot(page, screenshots_dir, "recovery-codes")
    page.locator("#recovery-saved").click()
    expect(page.locator("#new-recovery-codes")).to_have_count(0, timeout=T)

    # 5. The link sets a new password once.
    other = page.context.browser.new_context().new_page()
    other.goto(f"{app_url}/reset-password?token={link.split('token=')[1]}")
    other.get_by_label("New password", exact=True).fill("drifter-second-password")
    other.get_by_label("Repeat the new password").fill("drifter-second-password")
    other.get_by_role("button", name="Set new password").click()
    expect(other.locator("#reset-done")).to_be_visible(timeout=T)
    sign_in(other, app_url, NEWCOMER, password="drifter-second-password")
    path_is(other, "/me")
    other.context.close()

    # 6. Someone guesses the newcomer's password from another browser: after five wrong tries the account is
    #    slowed down; the super admin sees it under Activity Logs → Throttled sign-ins and unlocks it.
    guesser = page.context.browser.new_context().new_page()
    for i in range(5):
        sign_in(guesser, app_url, NEWCOMER, password=f"wrong-guess-{i}")
        expect(guesser.get_by_text("Email or password is incorrect.")).to_be_visible(timeout=T)
    _more_failures(app_env, f"login:acct:{NEWCOMER}", 5)  # a wait of 64 s: longer than the next browser steps
    sign_in(guesser, app_url, NEWCOMER, password="drifter-second-password")
    expect(guesser.get_by_text(re.compile(r"Too many failed attempts\. Wait \d+ seconds"))).to_be_visible(timeout=T)

    page.goto(f"{app_url}/admin/activity")
    page.locator("#tab-throttled").click()
    row = page.locator("#throttled-table tr").filter(has_text=NEWCOMER)
    expect(row).to_have_count(1, timeout=T)
    expect(row).to_contain_text("account")
    expect(row).to_contain_text("slowed")
    shoot(page, screenshots_dir, "logs-throttled")
    dark_mode(page)
    shoot(page, screenshots_dir, "logs-throttled-dark")
    row.get_by_role("button", name=f"Unlock {NEWCOMER}").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("audit trail", timeout=T)
    page.locator("#confirm-unlock").click()
    expect(page.locator("#throttled-message")).to_contain_text("10 failed attempts are forgotten", timeout=T)
    expect(page.locator("#throttled-table tr").filter(has_text=NEWCOMER)).to_have_count(0, timeout=T)

    sign_in(guesser, app_url, NEWCOMER, password="drifter-second-password")  # heard at once again
    path_is(guesser, "/me")
    guesser.context.close()
