"""Enterprise onboarding in the real app: a user without an organization requests an enterprise account (live
rule messages, an invitation link for a colleague who registers with it), a super admin reviews and activates
it, the requester sees the new status, and the new admin is sent to MFA enrolment."""

from __future__ import annotations

import re
import subprocess
import sys

from playwright.sync_api import Page, expect

from .conftest import ROOT
from .test_auth_flow import T, enrol_mfa, path_is, shoot, sign_in

ORG = "Vandelay Industries"
REVIEWER, REVIEWER_PW = "reviewer@steward.example", "reviewer-password-1"
ADMIN = "vera@vandelay.example"


def sign_out(page: Page) -> None:
    if page.locator("#user-menu").count():
        page.locator("#user-menu").click()
    page.locator("#sign-out").first.click()
    path_is(page, "/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=T)


def test_request_review_activate_and_admin_mfa(page: Page, app_url: str, app_env: dict, screenshots_dir):
    # A super admin of its own (other tests may have enrolled the demo super admin's MFA already).
    subprocess.run([sys.executable, "-m", "services.ops.cli", "create-superadmin", "--email", REVIEWER,
                    "--password", REVIEWER_PW], cwd=ROOT, env=app_env, check=True, timeout=120)

    # 1. A registered user without an organization opens the request page from /me.
    sign_in(page, app_url, "guest@steward.example")
    path_is(page, "/me")
    page.locator("#enterprise-link").click()
    path_is(page, "/enterprise/request")
    expect(page.locator("#enterprise-heading")).to_be_visible(timeout=T)

    # 2. Live messages as they type.
    page.locator("#org_name").fill("Acme Corp")
    expect(page.locator("#msg-org_name")).to_contain_text("already exists", timeout=T)
    page.locator("#org_name").fill(ORG)
    expect(page.locator("#msg-org_name")).to_have_count(0, timeout=T)
    page.locator("#billing_address").fill("129 West 81st Street, New York")
    page.locator("#user_emails").fill(f"guest@steward.example\n{ADMIN}\n{ADMIN}")
    expect(page.locator("#msg-user_emails")).to_contain_text(f"Listed more than once: {ADMIN}", timeout=T)
    page.locator("#user_emails").fill(f"guest@steward.example\n{ADMIN}")
    expect(page.locator("#msg-user_emails")).to_contain_text(f"Not registered yet: {ADMIN}", timeout=T)
    page.locator("#admin_emails").fill("someone@else.example")
    expect(page.locator("#msg-admin_emails")).to_contain_text("Admins must also be listed as users", timeout=T)
    page.locator("#admin_emails").fill(ADMIN)
    page.locator("#tokens").fill("3000000")
    expect(page.locator("#msg-tokens")).to_contain_text("multiples of 2,000,000", timeout=T)
    page.locator("#tokens").fill("2,000,000")
    expect(page.locator("#msg-tokens")).to_have_count(0, timeout=T)
    expect(page.locator("#send-request")).to_be_disabled()

    # 3. Invite the colleague: without SMTP the page shows a link to pass on.
    page.locator("#invite-unregistered").click()
    link_el = page.locator(".invite-link").first
    expect(link_el).to_contain_text("/reset-password?token=", timeout=T)
    shoot(page, screenshots_dir, "enterprise-request")
    link = link_el.inner_text().strip()
    token = link.split("token=")[1]

    colleague = page.context.new_page()
    colleague.goto(f"{app_url}/reset-password?token={token}")
    colleague.get_by_label("New password", exact=True).fill("vera-chooses-a-password")
    colleague.get_by_label("Repeat the new password").fill("vera-chooses-a-password")
    colleague.get_by_role("button", name="Set new password").click()
    expect(colleague.locator("#reset-done")).to_be_visible(timeout=T)
    colleague.close()

    # 4. Every rule passes now: send the request.
    page.locator("#notes").fill("Vera registered.")
    expect(page.locator("#form-valid")).to_be_visible(timeout=T)
    page.locator("#send-request").click()
    expect(page.locator("#request-notice")).to_contain_text(f"for {ORG} was sent", timeout=T)
    expect(page.locator(".my-request").filter(has_text=ORG)).to_contain_text("Pending review")
    sign_out(page)

    # 5. The super admin reviews and activates it (Requests tab with its badge, confirmation).
    sign_in(page, app_url, REVIEWER, password=REVIEWER_PW)
    enrol_mfa(page)
    path_is(page, "/admin/organizations")
    expect(page.locator("#requests-badge").first).to_have_text("2", timeout=T)  # the demo's pending one + ours
    page.locator("#tab-requests").click()
    row = page.locator(".request-row").filter(has_text=ORG)
    expect(row).to_contain_text("guest@steward.example", timeout=T)
    row.locator(".review-request").click()
    expect(page.locator("#review-ok")).to_be_visible(timeout=T)
    shoot(page, screenshots_dir, "enterprise-review")
    page.locator("#ask-activate").click()
    expect(page.locator("#confirm-box")).to_contain_text("creates the organization", timeout=T)
    page.locator("#confirm-decision").click()
    expect(page.locator("#orgs-notice")).to_contain_text(f"{ORG} is active.", timeout=T)
    expect(page.locator("#requests-badge").first).to_have_text("1", timeout=T)
    page.locator("#tab-orgs").click()
    new_row = page.locator(".org-row").filter(has_text=ORG)
    expect(new_row).to_contain_text("2,000,000", timeout=T)
    shoot(page, screenshots_dir, "organizations")
    sign_out(page)

    # 6. The requester sees the status and the notification.
    sign_in(page, app_url, "guest@steward.example")
    path_is(page, "/me")
    page.goto(f"{app_url}/enterprise/request")
    expect(page.locator(".my-request").filter(has_text=ORG)).to_contain_text("Activated", timeout=T)
    expect(page.locator(".notification").first).to_contain_text(f"{ORG} is active")
    sign_out(page)

    # 7. The new admin must enrol MFA on first admin access, then lands in the new organization.
    sign_in(page, app_url, ADMIN, password="vera-chooses-a-password")
    path_is(page, "/mfa/setup")
    shoot(page, screenshots_dir, "enterprise-new-admin-mfa")
    enrol_mfa(page)
    expect(page).to_have_url(re.compile(r"/admin"), timeout=T)
    expect(page.locator("#org-badge")).to_contain_text(ORG, timeout=T)
