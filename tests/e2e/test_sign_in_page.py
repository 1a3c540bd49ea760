"""The sign-in page renders at desktop and narrow widths."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from .test_auth_flow import dark_mode

WIDTHS = {"desktop": 1400, "narrow": 800}


@pytest.mark.parametrize("route", ["/", "/login"])
@pytest.mark.parametrize("name", list(WIDTHS))
def test_sign_in_page_renders(page: Page, app_url: str, screenshots_dir, name: str, route: str):
    page.set_viewport_size({"width": WIDTHS[name], "height": 900})
    page.goto(f"{app_url}{route}")

    expect(page.get_by_role("heading", name="Steward", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Enterprise GenAI admin panel", exact=True)).to_be_visible()
    expect(page.get_by_label("Email")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.title() == "Sign in · Steward"

    slug = "root" if route == "/" else route.strip("/")
    page.screenshot(path=str(screenshots_dir / f"sign-in-{slug}-{name}.png"), full_page=True)


@pytest.mark.parametrize("name", list(WIDTHS))
def test_sign_in_page_dark_mode(page: Page, app_url: str, screenshots_dir, name: str):
    page.set_viewport_size({"width": WIDTHS[name], "height": 900})
    page.emulate_media(color_scheme="light")
    page.goto(f"{app_url}/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)

    dark_mode(page)  # the sign-in page runs an on_load check: the helper clicks until the class sticks
    expect(page.get_by_role("heading", name="Steward", exact=True)).to_be_visible()
    page.screenshot(path=str(screenshots_dir / f"sign-in-dark-{name}.png"), full_page=True)


def test_wrong_password_is_refused_inline(page: Page, app_url: str, screenshots_dir):
    """A failed sign-in shows the service's message in the form and stays on the page."""
    page.goto(f"{app_url}/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    page.get_by_label("Email").fill("nobody@acme.example")
    page.get_by_label("Password").fill("not-a-real-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_text("Email or password is incorrect.")).to_be_visible(timeout=15_000)
    page.screenshot(path=str(screenshots_dir / "sign-in-submitted.png"))
    url = urlsplit(page.url)
    assert url.path.rstrip("/") == "/login" and not url.query  # no navigation, nothing in the URL
