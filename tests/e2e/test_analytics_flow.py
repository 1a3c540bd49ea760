"""Token Statistics and Activity Logs in Chromium, on the shared demo app (see conftest.py).

Statistics as the demo finance user (read-only; no other browser test signs it in): the five Plotly charts carry
data, changing the range and the granularity redraws them, a range without usage shows the empty-state text
instead of axes, and chart, per-user and raw-event exports download CSV files. Activity Logs as a super admin
created for this test (other tests enrol the demo super admin's MFA): the three tabs, a user filter, keyset paging
forward and back, a CSV export and the audit-chain check. Screenshots at 1400 px and 800 px, light and dark.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import ROOT
from .test_auth_flow import T, dark_mode, enrol_mfa, path_is, shoot, sign_in, sign_out

FINANCE = "finance@acme.example"
ROOT_EMAIL, ROOT_PASSWORD = "analytics-root@steward.example", "analytics-root-password-1"
CHARTS = ("over_time", "monthly", "top_users", "models", "assigned")


def _points(page: Page, key: str) -> list[int]:
    """Points per trace of the Plotly graph `key` as drawn in the page (the graph div holds its data)."""
    return page.evaluate("k => { const g = document.getElementById('chart-' + k);"
                         " return g && g.data ? g.data.map(t => (t.x || []).length) : null }", key)


def _wait_points(page: Page, key: str, n: int) -> None:
    page.wait_for_function("([k, n]) => { const g = document.getElementById('chart-' + k);"
                           " return g && g.data && g.data.length > 0 && g.data.every(t => t.x.length === n) }",
                           arg=[key, n], timeout=T)


def _wait_chart(page: Page, granularity: str, n: int) -> None:
    """The usage-over-time chart drawn per `granularity` with `n` points per trace."""
    expect(page.locator("#chart-over_time")).to_contain_text(f"per {granularity}", timeout=T)
    _wait_points(page, "over_time", n)


def _apply(page: Page, *, start: date | None = None, end: date | None = None, granularity: str | None = None) -> None:
    if start is not None:
        page.locator("#stats-start").fill(start.isoformat())
    if end is not None:
        page.locator("#stats-end").fill(end.isoformat())
    if granularity is not None:
        page.locator("select[name=granularity]").select_option(granularity)
    page.locator("#stats-apply").click()


def _light(page: Page) -> None:
    page.locator("#color-mode-toggle").click()
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bdark\b"), timeout=T)


def _csv(download) -> list[list[str]]:
    return list(csv.reader(io.StringIO(Path(download.path()).read_text())))


def test_statistics_charts_filters_empty_state_and_exports(page: Page, app_url: str, screenshots_dir):
    sign_in(page, app_url, FINANCE)
    enrol_mfa(page)
    path_is(page, "/admin/statistics")  # finance's only page
    expect(page.locator("#page-title")).to_have_text("Token Statistics", timeout=T)
    expect(page.locator("#nav-users")).to_have_count(0)  # read-only role: no management pages
    expect(page.locator("#stats-cards > *")).to_have_count(5, timeout=T)
    expect(page.locator("#stats-cards")).to_contain_text("Pool days left")

    # Every chart is a Plotly graph with data; the default range is the last 90 days, by day.
    today = datetime.now(UTC).date()  # the page works in UTC days
    _wait_points(page, "over_time", 90)
    for key in CHARTS:
        expect(page.locator(f"#chart-{key} .main-svg").first).to_be_visible(timeout=T)
        points = _points(page, key)
        assert points and sum(points) > 0, (key, points)
    assert _points(page, "monthly") == [12, 12]  # inference and training, last 12 months
    expect(page.locator("#chart-over_time")).to_contain_text("per day")
    shoot(page, screenshots_dir, "statistics")
    dark_mode(page)
    shoot(page, screenshots_dir, "statistics-dark")
    _light(page)

    # Granularity and range redraw the charts.
    start = today - timedelta(days=89)
    weeks = len({start + timedelta(days=i) - timedelta(days=(start + timedelta(days=i)).weekday()) for i in range(90)})
    # Each step waits for the new title first: a stale chart can have the awaited number of points already
    # (90 days by week are 14 weeks, like the next 14 days by day), and typing into the filters before the
    # answer lands types into inputs that the answer then replaces.
    _apply(page, granularity="week")
    _wait_chart(page, "week", weeks)
    _apply(page, start=today - timedelta(days=13), granularity="day")
    _wait_chart(page, "day", 14)
    _apply(page, start=today - timedelta(days=2), granularity="hour")
    _wait_chart(page, "hour", 72)

    # A range without usage says so instead of drawing empty axes.
    _apply(page, start=date(2020, 1, 1), end=date(2020, 1, 31), granularity="day")
    expect(page.locator("#chart-over_time")).to_have_count(0, timeout=T)
    for key in ("top_users", "models"):
        expect(page.locator(f"#chart-{key}")).to_have_count(0)
    expect(page.locator(".chart-empty").first).to_have_text("No usage for these filters in this range.")
    assert page.locator(".chart-empty").count() == 3
    shoot(page, screenshots_dir, "statistics-empty")

    # Exports of the last 30 days: a chart's data, every user's usage, the raw events (background job).
    _apply(page, start=today - timedelta(days=29), end=today, granularity="day")
    _wait_chart(page, "day", 30)
    with page.expect_download(timeout=T) as dl:
        page.locator("#export-over_time").click()
    rows = _csv(dl.value)
    assert rows[0] == ["period", "kind", "billed_tokens", "events"] and len(rows) == 1 + 30 * 2
    assert dl.value.suggested_filename.startswith("over-time_")
    with page.expect_download(timeout=T) as dl:
        page.locator("#export-per-user").click()
    users = _csv(dl.value)
    assert users[0] == ["user_id", "email", "name", "billed_tokens", "events"] and len(users) > 2
    assert all(r[1].endswith("@acme.example") for r in users[1:])  # finance sees its own org only
    with page.expect_download(timeout=60_000) as dl:
        page.locator("#export-raw").click()
    raw = _csv(dl.value)
    assert raw[0] == ["time", "user", "model", "prompt_tokens", "completion_tokens", "billed_tokens", "kind", "ip"]
    assert len(raw) - 1 == sum(int(r[3]) for r in rows[1:])  # one line per event the chart counted
    expect(page.locator("#export-message")).to_contain_text("rows", timeout=T)
    sign_out(page)


def _first_row(page: Page) -> str:
    return page.locator("#logs-table tbody tr").first.inner_text()


def _until(check, timeout_ms: int = T) -> None:
    for _ in range(timeout_ms // 250):
        if check():
            return
        time.sleep(0.25)
    assert check()


def test_activity_logs_tabs_filters_paging_export_and_verify(page: Page, app_url: str, app_env: dict,
                                                             screenshots_dir):
    subprocess.run([sys.executable, "-m", "services.ops.cli", "create-superadmin", "--email", ROOT_EMAIL,
                    "--password", ROOT_PASSWORD], cwd=ROOT, env=app_env, check=True, timeout=120)
    sign_in(page, app_url, ROOT_EMAIL, ROOT_PASSWORD)
    enrol_mfa(page)
    page.goto(f"{app_url}/admin/activity")
    path_is(page, "/admin/activity")
    expect(page.locator("#page-title")).to_have_text("Activity Logs", timeout=T)
    rows = page.locator("#logs-table tbody tr")
    expect(rows.first).to_be_visible(timeout=T)

    # All organizations (the super admin's default here): an Organization column; then Acme Corp only.
    expect(page.locator("#org-switcher")).to_contain_text("All organizations")
    expect(page.locator("#logs-table thead")).to_contain_text("Organization")
    page.locator("#org-switcher").click()
    page.locator("#org-search").fill("acme")
    page.locator(".org-option", has_text="Acme Corp").click()
    expect(page.locator("#org-switcher")).to_contain_text("Acme Corp", timeout=T)
    expect(rows.first).to_be_visible(timeout=T)
    expect(page.locator("#logs-table thead")).not_to_contain_text("Organization")
    expect(page.locator("#logs-table thead")).to_contain_text("Billed")
    expect(rows).to_have_count(50)
    shoot(page, screenshots_dir, "activity-usage")

    # Keyset paging: forward twice, back once; the pages differ and "previous" returns the same rows.
    expect(page.locator("#logs-prev")).to_be_disabled()
    first = _first_row(page)
    page.locator("#logs-next").click()
    expect(page.locator("#logs-page")).to_have_text("Page 2", timeout=T)
    second = _first_row(page)
    assert second != first
    page.locator("#logs-next").click()
    expect(page.locator("#logs-page")).to_have_text("Page 3", timeout=T)
    page.locator("#logs-prev").click()
    expect(page.locator("#logs-page")).to_have_text("Page 2", timeout=T)
    assert _first_row(page) == second
    page.locator("#logs-prev").click()
    expect(page.locator("#logs-page")).to_have_text("Page 1", timeout=T)
    assert _first_row(page) == first
    expect(page.locator("#logs-prev")).to_be_disabled()

    # A user filter: every row is that user's; the export holds the same rows.
    page.locator("#logs-user").fill("member@acme.example")
    page.locator("select[name=kind]").select_option("tokens")
    page.locator("#logs-apply").click()
    expect(page.locator("#logs-page")).to_have_text("Page 1", timeout=T)
    expect(rows.first).to_contain_text("member@acme.example", timeout=T)
    texts = rows.all_inner_texts()
    assert texts and all("member@acme.example" in t and "tokens" in t for t in texts)
    with page.expect_download(timeout=60_000) as dl:
        page.locator("#logs-export").click()
    exported = _csv(dl.value)
    assert exported[0][:2] == ["time", "user"] and len(exported) > 1
    assert {r[1] for r in exported[1:]} == {"member@acme.example"} and {r[6] for r in exported[1:]} == {"tokens"}
    page.get_by_role("button", name="Clear").click()
    _until(lambda: _first_row(page) == first)  # back to everyone's usage, page 1

    # Sign-ins and audit trail tabs, with their own columns and filters.
    page.locator("#tab-signins").click()
    expect(page.locator("#logs-table thead")).to_contain_text("Result", timeout=T)
    expect(page.locator("select[name=outcome]")).to_be_visible()
    page.locator("#tab-audit").click()
    expect(page.locator("#logs-table thead")).to_contain_text("Before → after", timeout=T)
    expect(rows.first).to_be_visible(timeout=T)
    page.locator("#logs-text").fill("max_tokens")
    page.locator("#logs-apply").click()
    expect(rows.first).to_contain_text("max_tokens", timeout=T)
    shoot(page, screenshots_dir, "activity-audit")
    dark_mode(page)
    shoot(page, screenshots_dir, "activity-audit-dark")
    _light(page)

    # The audit chain is intact (every change of the demo and of the browser tests so far).
    page.locator("#verify-chain").click()
    expect(page.locator("#verify-result")).to_have_text(re.compile(r"^Intact \(\d+ entries\)$"), timeout=60_000)
    sign_out(page)
