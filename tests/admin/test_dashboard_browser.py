"""The dashboard in a real browser (Debian's chromium via Playwright), at desktop and phone
sizes: the charts are drawn inline, nothing is fetched from outside the site, and nothing
overflows the phone's width. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from akjob.timeutil import utcnow
from tests.admin import test_browser as shared
from tests.admin.dashdata import fill

# The browser test module's fixtures, used here too.
browser, page, static_files, shot = shared.browser, shared.page, shared.static_files, shared.shot

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def outside_requests(page: Any, live_server: Any) -> list[str]:
    seen: list[str] = []
    page.on(
        "request",
        lambda request: (
            seen.append(request.url)
            if not request.url.startswith(live_server.url) and not request.url.startswith("data:")
            else None
        ),
    )
    return seen


@pytest.mark.parametrize("size", SIZES)
def test_the_dashboard_at_desktop_and_phone_sizes(page, live_server, size):
    fill(utcnow())  # the real clock: the browser's session must not expire
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    outside = outside_requests(page, live_server)
    page.goto("/admin/")
    page.get_by_role("link", name="Dashboard").first.click()
    expect(page.locator("#akjob-summary")).to_contain_text("1 akjobd alive")
    expect(page.locator("#akjob-daemons")).to_contain_text("dead (no heartbeat for 108")
    expect(page.locator("#akjob-problems")).to_contain_text("nightly <b>backup</b>")
    expect(page.locator("#akjob-running")).to_contain_text("stuck")
    bars = page.locator("#akjob-runs-chart rect.akjob-bar")
    assert bars.count() >= 22
    chart = page.locator("#akjob-runs-chart svg").bounding_box()
    assert chart is not None and chart["width"] > 0.8 * min(width, 720) - 40
    assert chart["height"] > 100  # drawn, not collapsed
    points = page.locator("#akjob-lateness-chart circle.akjob-point")
    assert points.count() >= 40  # p50 and p99 for each hour with runs
    # Nothing wider than the screen (tables scroll inside their own box).
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than the {size} screen"
    shot(page, f"admin-dashboard-{size}", full=True)
    page.locator("#akjob-no-daemon").wait_for(state="detached")
    assert outside == []


def test_the_banner_in_the_browser(page, live_server):
    fill(utcnow(), alive=False)
    page.goto("/admin/akjob/dashboard/")
    expect(page.locator("#akjob-no-daemon")).to_contain_text("No akjobd is alive")
    shot(page, "admin-dashboard-no-daemon")
