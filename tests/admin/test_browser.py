"""The admin in a real browser: Playwright drives Debian's chromium against the live server.

Skipped where /usr/bin/chromium or the playwright package is missing, unless
AKJOB_REQUIRE_SERVICES=1 (then they fail). Screenshots go to artifacts/screenshots/.

The ORM is used only between browser steps, in this thread (see the ``browser`` fixture about
DJANGO_ALLOW_ASYNC_UNSAFE); the live server serves the pages from its own thread. Where a test
needs akjobd, it runs the daemon's loop steps itself, between the browser's steps, on committed
data (``transactional_db``, via live_server).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import django
import pytest

from akjob.models import Job, JobCallable, JobRun
from tests.admin.conftest import REPORT
from tests.conftest import REQUIRE

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SIX = time(6, 0)
PASSWORD = "browser-pass"  # noqa: S105 - a test user

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


def _missing() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed"
    if not shutil.which(CHROMIUM):
        return f"{CHROMIUM} is missing (Debian: apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing and REQUIRE:
        pytest.fail(f"browser tests are required (AKJOB_REQUIRE_SERVICES=1): {missing}")
    if missing:
        pytest.skip(missing)
    # Playwright's sync API marks an asyncio loop as running in this thread for as long as it
    # is started, so Django's guard would refuse every ORM call here (the test's own set-up,
    # pytest-django's flush). Nothing runs concurrently: the loop only turns inside Playwright
    # calls, and the ORM is used between them. So the guard is lifted, for this module only.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def static_files(settings: Any) -> None:
    # The test settings have no staticfiles app: the live server serves STATIC_ROOT, so point
    # it at the admin's own files for styled pages (and screenshots).
    settings.STATIC_ROOT = str(Path(django.__file__).parent / "contrib" / "admin" / "static")


def signed_in(
    browser: Any, live_server: Any, users: Any, *, width: int = 1280, height: int = 900
) -> tuple[Any, Any]:
    """A browser context of the given size and a page in it, signed in as a superuser."""
    users.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    size = {"width": width, "height": height}
    context = browser.new_context(viewport=size, base_url=live_server.url)
    # The admin's navigation sidebar starts closed: more room for the pages themselves.
    context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("Django administration")
    return context, page


@pytest.fixture
def page(
    browser: Any, live_server: Any, day_tables: None, static_files: None, django_user_model: Any
) -> Iterator[Any]:
    context, page = signed_in(browser, live_server, django_user_model)
    yield page
    context.close()


def shot(page: Page, name: str, *, at: str | None = None, full: bool = False) -> Path:
    """Save a screenshot under artifacts/screenshots/: the viewport (scrolled to ``at``), or
    the whole page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if at:
        page.locator(at).first.scroll_into_view_if_needed()
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def make_job(name: str, *, function: str = REPORT, **fields: Any) -> Job:
    day_sets = {
        f"{k}_list": fields.pop(k)
        for k in ("weekly_days", "active_weekly_days", "active_months")
        if k in fields
    }
    job = Job(name=name, **fields)
    for attribute, values in day_sets.items():
        setattr(job, attribute, values)
    job.job_code_object = JobCallable(function, "ops")
    job.save()
    return job


def act(page: Page, job_name: str, action: str) -> None:
    """Select one job on the list and run an action on it."""
    page.goto("/admin/akjob/job/")
    row = page.locator("#result_list tbody tr", has_text=job_name)
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", label=action)
    page.click("button[name=index]")


def test_create_a_weekly_job_from_a_registered_function(page: Page) -> None:
    page.goto("/admin/akjob/job/add/")
    page.fill("#id_name", "weekly report")
    page.select_option("#id_function", REPORT)
    page.fill("#id_arguments", '["ops"]')
    page.fill("#id_keyword_arguments", '{"copies": 2}')
    for day in ("Monday", "Wednesday", "Friday"):
        page.locator("#id_weekly_days").get_by_label(day).check()
    page.fill("#id_weekly_time", "06:30")
    page.fill("#id_active_time_begin", "06:00")
    page.fill("#id_active_time_end", "18:00")
    page.fill("#id_timezone", "America/Denver")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    panel = page.locator("#akjob-next-runs")
    expect(panel.locator("tbody tr")).to_have_count(10)
    expect(panel.locator("tbody tr").first).to_contain_text(
        re.compile(r"(Mon|Wed|Fri) [-\d]+ 06:30:00 M[SD]T")
    )
    shot(page, "job-change-full", full=True)
    shot(page, "job-change", at="#akjob-next-runs")
    page.goto("/admin/akjob/job/")
    row = page.locator("#result_list tbody tr", has_text="weekly report")
    expect(row).to_contain_text("Mon, Wed, Fri at 06:30 America/Denver")
    job = Job.objects.get(name="weekly report")
    assert job.weekly_days_list == [2, 4, 6]
    assert job.upcoming(1)[0].astimezone(ZoneInfo(job.timezone)).strftime("%H:%M") == "06:30"


def test_add_form_shows_the_error_on_the_field(page: Page) -> None:
    page.goto("/admin/akjob/job/add/")
    page.fill("#id_name", "no days")
    page.select_option("#id_function", REPORT)
    page.fill("#id_arguments", '["ops"]')
    page.fill("#id_weekly_time", "06:30")
    page.click("input[name=_save]")
    expect(page.locator("#id_weekly_days_error")).to_contain_text(
        "“Weekly time” is set, so “Weekdays” are required"
    )
    expect(page.locator(".errornote")).to_be_visible()
    shot(page, "job-add-error", at="#id_weekly_days_error")
    assert not Job.objects.exists()


def test_an_invalid_edit_shows_the_error_and_changes_nothing(page: Page) -> None:
    job = make_job("hourly", run_every=timedelta(hours=1))
    before = Job.objects.filter(pk=job.pk).values().get()
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    page.fill("#id_name", "renamed")
    page.fill("#id_timezone", "Mars/Olympus")
    page.click("input[name=_save]")
    expect(page.locator("#id_timezone_error")).to_contain_text("not a known IANA time zone")
    assert Job.objects.filter(pk=job.pk).values().get() == before


def test_run_now_and_see_the_run_in_the_history(page: Page) -> None:
    from django.utils import timezone

    from akjob.daemon.loop import Daemon
    from akjob.daemon.supervisor import InlineSupervisor

    job = make_job("nightly report", run_every=timedelta(days=1))
    make_job("failing report", function="tests.admin.jobfuncs.fail_loudly", cron="0 3 * * *")
    act(page, "nightly report", "Run selected jobs now")
    expect(page.locator(".messagelist")).to_contain_text(re.compile("no akjobd is running", re.I))
    # An akjobd (its loop steps run here, between the browser's steps) takes the requests.
    daemon = Daemon(supervisor=InlineSupervisor(size=2), max_workers=2)
    daemon.register(timezone.now())
    act(page, "nightly report", "Run selected jobs now")
    expect(page.locator(".messagelist")).to_contain_text("is due now; akjobd starts it")
    act(page, "failing report", "Run selected jobs now")
    expect(page.locator(".messagelist")).to_contain_text("is due now; akjobd starts it")
    daemon.run_once(timezone.now())
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    history = page.locator("#akjob-last-runs tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("succeeded")
    page.click("text=Run history")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.goto("/admin/akjob/jobrun/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("RuntimeError: the report server")
    shot(page, "run-history")
    page.locator("#result_list tbody tr", has_text="failed").locator("th a").click()
    expect(page.locator("pre.akjob-error")).to_contain_text("Traceback (most recent call last)")
    shot(page, "run-detail")
    assert JobRun.objects.filter(job=job, status=JobRun.Status.SUCCEEDED).count() == 1
    # The list, with the last runs and their status beside the other kinds of schedule.
    make_job(
        "office hours sync",
        run_every=timedelta(minutes=15),
        active_time_begin=time(8, 0),
        active_time_end=time(16, 0),
        active_time_tz_offset_timedelta=timedelta(hours=-7),
        active_weekly_days=[2, 3, 4, 5, 6],
    )
    make_job("month end", cron="30 23 28-31 * *", timezone="Europe/Berlin", run_count_limit=12)
    page.goto("/admin/akjob/job/")
    expect(page.locator("#result_list")).to_contain_text(
        "every 15 minutes, 08:00\u201316:00 UTC\u221207:00, Mon\u2013Fri"
    )
    expect(page.locator("#result_list tbody tr", has_text="failing report")).to_contain_text(
        "failed"
    )
    shot(page, "job-list")


def test_disable_with_the_action_and_see_why_a_job_has_no_next_run(page: Page) -> None:
    job = make_job("weekly", weekly_time=SIX, weekly_days=[2, 6])
    act(page, "weekly", "Disable selected jobs")
    expect(page.locator(".messagelist")).to_contain_text("1 job(s) disabled.")
    row = page.locator("#result_list tbody tr", has_text="weekly")
    expect(row.locator("td.field-enabled img")).to_have_attribute("alt", "False")
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    expect(page.locator("#akjob-no-run-reason")).to_contain_text("the job is disabled")
    assert not Job.objects.get(pk=job.pk).job_enabled
    never = make_job("leap mondays", weekly_time=SIX, weekly_days=[2], active_months=[2])
    never.active_monthly_days_list = [30, 31]
    never.save()
    page.goto(f"/admin/akjob/job/{never.pk}/change/")
    expect(page.locator("#akjob-no-run-reason")).to_contain_text(
        "“active days of the month” [30, 31] and “active months” [2] allow no day"
    )
    shot(page, "job-no-next-run", at="#akjob-no-run-reason")


def test_upcoming_runs_page(page: Page) -> None:
    make_job("every 4 hours", run_every=timedelta(hours=4))
    make_job("weekly", weekly_time=SIX, weekly_days=list(range(1, 8)))
    make_job("noon", cron="0 12 * * *")
    page.goto("/admin/akjob/job/")
    page.locator(".object-tools").get_by_role("link", name="Upcoming runs").click()
    rows = page.locator("#akjob-upcoming tbody tr")
    expect(rows).to_have_count(8)  # 6 interval runs, one weekly, one cron in 24 hours
    expect(page.locator("#akjob-upcoming")).to_contain_text("cron")
    shot(page, "upcoming-runs")
    page.fill("#id_hours", "48")
    page.click("#akjob-range input[type=submit]")
    expect(rows).to_have_count(16)
    page.goto("/admin/akjob/job/upcoming/?hours=0")  # the browser would refuse to send it
    expect(page.locator(".errornote")).to_contain_text("greater than or equal to 1")
