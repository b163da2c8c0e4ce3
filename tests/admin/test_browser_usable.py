"""The admin as a first-time administrator meets it, in Debian's chromium at a desktop size
(1400×900) and a phone size (390×844): every test runs at both, saves screenshots under
artifacts/screenshots/ (``usable-<test>-<size>.png``), and checks that nothing overflows the
phone's width. The accessibility test runs axe-core on every akjob page.

Skipped like tests/admin/test_browser.py where chromium or playwright is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from akjob.models import DaemonRecord, Job, JobRun
from tests.admin.conftest import REPORT
from tests.admin.test_browser import (  # noqa: F401 - fixtures
    PASSWORD,
    SHOTS,
    browser,
    make_job,
    signed_in,
    static_files,
)

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - depends on the machine
    Page = Any

SIZES = {"desktop": (1400, 900), "phone": (390, 844)}


@pytest.fixture(params=list(SIZES))
def screen(
    request: Any,
    browser: Any,  # noqa: F811
    live_server: Any,
    day_tables: None,
    static_files: None,  # noqa: F811
    django_user_model: Any,
) -> Iterator[Any]:
    width, height = SIZES[request.param]
    context, page = signed_in(browser, live_server, django_user_model, width=width, height=height)
    page.akjob_size = request.param
    yield page
    context.close()


def snap(page: Page, name: str, *, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"usable-{name}-{page.akjob_size}.png"), full_page=full)


def fits(page: Page) -> None:
    """Nothing is wider than the window (at the phone's size the page must not scroll
    sideways)."""
    width = page.viewport_size["width"]
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide in a {width} px window"


def visible_in_window(page: Page, locator: Any) -> None:
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"] + 1, box


def tomorrow_at(hour: int) -> datetime:
    day = (timezone.now() + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# -- 1: the function and its arguments --------------------------------------------------------


def test_function_and_arguments_are_shown_and_editable_in_place(screen: Page) -> None:
    job = make_job("weekly report", weekly_time=time(6), weekly_days=[2])
    screen.goto(f"/admin/akjob/job/{job.pk}/change/")
    expect(screen.locator("#id_function")).to_have_value(REPORT)
    expect(screen.locator("#id_arguments")).to_have_value('["ops"]')
    expect(screen.locator(".field-code_object")).to_contain_text('send_report("ops")')
    fits(screen)
    screen.locator("#id_function").scroll_into_view_if_needed()
    snap(screen, "function-arguments")
    screen.fill("#id_arguments", '["finance"]')
    screen.click("input[name=_continue]")
    expect(screen.locator(".messagelist")).to_contain_text("was changed successfully")
    code = Job.objects.get(pk=job.pk).job_code_object
    assert (code.callable, code.args) == (REPORT, ("finance",))
    expect(screen.locator("#id_function")).to_have_value(REPORT)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_viewer_sees_the_function_and_arguments_too(
    size: str,
    browser: Any,  # noqa: F811
    live_server: Any,
    day_tables: None,
    static_files: None,  # noqa: F811
    django_user_model: Any,
) -> None:
    from django.contrib.auth.models import Permission

    job = make_job("weekly report", weekly_time=time(6), weekly_days=[2])
    viewer = django_user_model.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.akjob_size = size
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "viewer")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/akjob/job/{job.pk}/change/")
        expect(page.locator("#id_function")).to_have_count(0)  # nothing to edit
        body = page.locator("#content-main")
        expect(body).to_contain_text('["ops"]')  # the arguments, as JSON
        text = body.inner_text()
        assert "Send report" in text or REPORT in text  # the function, by label or path
        expect(body).not_to_contain_text("Function: None")
        expect(body).not_to_contain_text("signed code object")
        fits(page)
        snap(page, "viewer-function")
    finally:
        context.close()


# -- 2: one time-zone rule --------------------------------------------------------------------


def test_times_carry_their_zone_and_the_site_s_beside(screen: Page) -> None:
    job = make_job("denver", weekly_time=time(6), weekly_days=[2, 6], timezone="America/Denver")
    screen.goto("/admin/akjob/job/")
    expect(screen.locator(".akjob-zone-rule")).to_contain_text("each job's time zone")
    row = screen.locator("#result_list tbody tr", has_text="denver")
    expect(row.locator("td.field-next_run")).to_contain_text(re.compile(r"06:00:00 M[DS]T"))
    expect(row.locator("td.field-next_run")).to_contain_text("UTC site time")
    fits(screen)
    snap(screen, "zones-list")
    screen.goto(f"/admin/akjob/job/{job.pk}/change/")
    expect(screen.locator("#akjob-zone-rule")).to_contain_text("America/Denver")
    first = screen.locator("#akjob-next-runs tbody tr").first
    expect(first).to_contain_text(re.compile(r"(Mon|Fri) [-\d]+ 06:00:00 M[DS]T"))
    expect(first).to_contain_text("UTC site time")
    fits(screen)


# -- 3: people's words --------------------------------------------------------------------------


def test_labels_errors_all_at_once_and_durations_in_words(screen: Page) -> None:
    screen.goto("/admin/akjob/job/add/")
    expect(screen.locator("label[for=id_run_every]")).to_have_text("Repeat every:")
    expect(screen.locator("label[for=id_deleteme]")).not_to_contain_text("Deleteme")
    screen.fill("#id_name", "two mistakes")
    screen.select_option("#id_function", REPORT)
    screen.fill("#id_arguments", '["ops"]')
    screen.fill("#id_weekly_time", "06:30")
    screen.fill("#id_cron", "61 * * * *")
    screen.fill("#id_timeout", "ninety")
    screen.click("input[name=_save]")
    expect(screen.locator("#id_weekly_days_error")).to_contain_text(
        "“Weekly time” is set, so “Weekdays” are required"
    )
    expect(screen.locator("#id_cron_error")).to_be_visible()
    expect(screen.locator("#id_timeout_error")).to_contain_text("Time limit: write a duration")
    fits(screen)
    snap(screen, "errors-at-once")
    assert not Job.objects.exists()
    screen.locator("#id_weekly_days").get_by_label("Monday").check()
    screen.fill("#id_cron", "30 6 * * 1-5")
    screen.fill("#id_timeout", "1h30m")
    screen.fill("#id_run_every", "15 minutes")
    screen.click("input[name=_continue]")
    expect(screen.locator(".messagelist")).to_contain_text("was added successfully")
    job = Job.objects.get(name="two mistakes")
    assert (job.timeout, job.run_every) == (timedelta(minutes=90), timedelta(minutes=15))
    expect(screen.locator("#id_timeout")).to_have_value("1 hour 30 minutes")
    expect(screen.locator("#akjob-cron-words")).to_contain_text("06:30")
    snap(screen, "cron-words")


# -- 4: first run at -----------------------------------------------------------------------------


def test_an_interval_starts_at_its_first_run_time(screen: Page) -> None:
    job = make_job("quarter hours", run_every=timedelta(minutes=15))
    start = tomorrow_at(8)
    screen.goto(f"/admin/akjob/job/{job.pk}/change/")
    screen.fill("#id_first_run_at_0", start.strftime("%Y-%m-%d"))
    screen.fill("#id_first_run_at_1", "08:00:00")
    screen.click("input[name=_continue]")
    expect(screen.locator(".messagelist")).to_contain_text("was changed successfully")
    rows = screen.locator("#akjob-next-runs tbody tr")
    expect(rows.first).to_contain_text("08:00:00 UTC")
    expect(rows.nth(1)).to_contain_text("08:15:00 UTC")
    assert Job.objects.get(pk=job.pk).upcoming(1)[0] == start
    fits(screen)


# -- 5: the upcoming page -----------------------------------------------------------------------


def test_upcoming_is_reachable_filterable_and_collapses_frequent_jobs(screen: Page) -> None:
    make_job("every minute", run_every=timedelta(minutes=1))
    make_job("nightly", cron="0 3 * * *")
    screen.goto("/admin/")
    screen.locator("#content-main").get_by_role("link", name="Upcoming runs").click()
    expect(screen.locator("#akjob-upcoming")).to_be_visible()
    frequent = screen.locator("#akjob-upcoming tr.akjob-frequent", has_text="every minute")
    expect(frequent).to_contain_text("1,440 runs")
    expect(screen.locator("#akjob-upcoming tbody > tr")).to_have_count(2)
    frequent.locator("summary").click()
    expect(frequent.locator("ol li")).to_have_count(200)
    fits(screen)
    snap(screen, "upcoming")
    screen.select_option("#id_job", label="nightly")
    screen.click("#akjob-range input[type=submit]")
    expect(screen.locator("#akjob-upcoming tbody > tr")).to_have_count(1)
    expect(screen.locator("#akjob-run-count")).to_have_text("1 run")


# -- 6: the run history --------------------------------------------------------------------------


def test_run_history_reads_at_a_glance_and_runs_again(screen: Page) -> None:
    from akjob.daemon.loop import Daemon
    from akjob.daemon.supervisor import InlineSupervisor

    job = make_job("failing report", function="tests.admin.jobfuncs.fail_loudly", cron="0 3 * * *")
    started = datetime(2027, 1, 5, 3, 0, 1, tzinfo=UTC)
    JobRun.objects.create(
        job=job,
        job_name=job.name,
        scheduled=started.replace(second=0),
        started=started,
        finished=started + timedelta(seconds=42),
        status=JobRun.Status.FAILED,
        error="Traceback (most recent call last):\n  ...\nRuntimeError: " + "the report " * 20,
    )
    screen.goto("/admin/akjob/jobrun/")
    row = screen.locator("#result_list tbody tr").first
    expect(row).to_contain_text("03:00:00 UTC")
    expect(row).to_contain_text("42 seconds")
    error = row.locator(".akjob-error-line")
    expect(error).to_contain_text("RuntimeError: the report")
    if screen.akjob_size == "desktop":
        visible_in_window(screen, error)
    expect(screen.locator("#changelist-filter")).not_to_contain_text("task status")
    fits(screen)
    snap(screen, "run-history")
    row.locator("th a").click()
    screen.click("#akjob-run-again")
    expect(screen.locator(".messagelist")).to_contain_text(re.compile("no akjobd is running", re.I))
    daemon = Daemon(supervisor=InlineSupervisor(size=1), max_workers=1)
    daemon.register(timezone.now())
    screen.click("#akjob-run-again")
    expect(screen.locator(".messagelist")).to_contain_text("is due now; akjobd starts it")
    assert Job.objects.get(pk=job.pk)._next_run <= timezone.now()
    fits(screen)
    snap(screen, "run-again")


# -- 7 and 9: the job list -----------------------------------------------------------------------


def test_job_list_says_what_runs_what_will_not_and_that_no_akjobd_is_alive(screen: Page) -> None:
    busy = make_job("busy", run_every=timedelta(hours=1))
    make_job("idle", run_every=timedelta(hours=1))
    done = make_job("all done", run_every=timedelta(hours=1), run_count_limit=1)
    Job.objects.filter(pk=done.pk).update(_run_count=1, _next_run=None)
    now = timezone.now().replace(microsecond=0)
    JobRun.objects.create(
        job=busy, scheduled=now, started=now, status=JobRun.Status.RUNNING, running_for=busy.pk
    )
    DaemonRecord.objects.create(
        host="web1", pid=4242, started=now - timedelta(hours=2), heartbeat=now - timedelta(hours=1)
    )
    screen.goto("/admin/akjob/job/")
    expect(screen.locator("#akjob-daemon-banner")).to_contain_text("No akjobd is running")
    rows = screen.locator("#result_list tbody tr")
    expect(rows.filter(has_text="busy").locator("td.field-running")).to_contain_text("since")
    expect(rows.filter(has_text="idle").locator("td.field-running")).not_to_contain_text("running")
    expect(rows.filter(has_text="all done").locator("td.field-next_run")).to_contain_text(
        "run count limit"
    )
    for column in ("th.field-display_name", "td.field-next_run", "td.field-last_run"):
        visible_in_window(screen, rows.first.locator(column))
    fits(screen)
    snap(screen, "job-list")
    screen.goto("/admin/akjob/daemonrecord/")
    expect(screen.locator("#result_list")).to_contain_text("crashed")
    expect(screen.locator("#result_list")).to_contain_text("silent for 1 hour")
    fits(screen)
    snap(screen, "daemons")


# -- 8: warnings ---------------------------------------------------------------------------------


def test_a_job_that_can_never_run_is_saved_with_a_warning(screen: Page) -> None:
    screen.goto("/admin/akjob/job/add/")
    screen.fill("#id_name", "nothing to do")
    screen.select_option("#id_function", REPORT)
    screen.fill("#id_arguments", '["ops"]')
    screen.click("input[name=_continue]")
    expect(screen.locator(".messagelist .warning")).to_contain_text("has no schedule")
    snap(screen, "warning")
    job = Job.objects.get(name="nothing to do")
    job.dates_list = [datetime(2020, 1, 1, tzinfo=UTC)]
    job.save()
    screen.goto(f"/admin/akjob/job/{job.pk}/change/")
    screen.click("input[name=_continue]")
    expect(screen.locator(".messagelist .warning")).to_contain_text("dates are in the past")
    fits(screen)


# -- 9: the weekday grid and the pages at phone width ----------------------------------------


def akjob_pages() -> list[str]:
    """Every akjob admin page, with a job that ran (and failed) and a live akjobd."""
    job = make_job("weekly", weekly_time=time(6), weekly_days=[2, 3, 4, 5, 6])
    run = JobRun.objects.create(
        job=job,
        job_name="weekly",
        scheduled=timezone.now(),
        status=JobRun.Status.FAILED,
        error="RuntimeError: boom",
    )
    DaemonRecord.objects.create(
        host="web1", pid=1, started=timezone.now(), heartbeat=timezone.now()
    )
    return [
        "/admin/akjob/job/",
        "/admin/akjob/job/add/",
        f"/admin/akjob/job/{job.pk}/change/",
        "/admin/akjob/job/upcoming/",
        "/admin/akjob/jobrun/",
        f"/admin/akjob/jobrun/{run.pk}/change/",
        "/admin/akjob/daemonrecord/",
        "/admin/akjob/dashboard/",
    ]


def test_every_page_fits_the_window(screen: Page) -> None:
    pages = akjob_pages()
    for url in ["/admin/", *pages]:
        screen.goto(url)
        fits(screen)
    screen.goto(pages[2])
    snap(screen, "job-change", full=True)


# -- accessibility -------------------------------------------------------------------------------

SERIOUS = {"serious", "critical"}
# Django's own parts of every admin page, which akjob's templates do not make.
DJANGO_OWN = {"exclude": [[".breadcrumbs"], ["#header"], ["#nav-sidebar"], ["#toggle-nav-sidebar"]]}


def test_akjob_pages_have_no_serious_accessibility_violations(screen: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = {}
    for url in akjob_pages():
        screen.goto(url)
        results = axe.run(screen, context=DJANGO_OWN)
        for violation in results.response["violations"]:
            if violation["impact"] not in SERIOUS:
                continue
            targets = [str(node["target"]) for node in violation["nodes"]]
            found.setdefault(url, []).append(f"{violation['id']}: {targets[:5]}")
    assert not found, "\n".join(f"{url}: {v}" for url, vs in found.items() for v in vs)
