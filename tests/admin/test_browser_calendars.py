"""Calendars, places in the month and jitter, edited in a real browser (see test_browser.py)."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import pytest

from akjob.models import Job
from tests.admin import test_browser as shared
from tests.admin.test_browser import make_job, shot

# The browser, the live server's static files and a logged-in page, as test_browser.py has them.
browser, static_files, page = shared.browser, shared.static_files, shared.page

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - depends on the machine
    Page = object


def test_edit_calendars_and_jitter_and_see_the_real_run_times(page: Page) -> None:
    job = make_job("office", weekly_time=time(7), weekly_days=[2, 3, 4, 5, 6])
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    page.fill("#id_timezone", "America/New_York")
    page.fill("#id_holidays", "US")
    page.check("#id_business_days_only")
    page.fill("#id_exclude_dates", "2031-12-24")
    page.fill("#id_jitter", "00:10:00")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    job = Job.objects.get(pk=job.pk)
    assert job.holidays == "US" and job.business_days_only
    assert job.exclude_dates_list == [date(2031, 12, 24)]
    assert job.jitter == timedelta(minutes=10)
    rows = page.locator("#akjob-next-runs tbody tr")
    expect(rows).to_have_count(10)
    shown = [job.upcoming(10)[i].astimezone(job_zone(job)) for i in range(10)]
    # The panel lists the jittered times: 07:00 to 07:10, not 07:00:00 every day.
    for row, when in zip(rows.all(), shown, strict=True):
        expect(row).to_contain_text(when.strftime("%Y-%m-%d %H:%M:%S"))
    assert any(when.strftime("%H:%M:%S") != "07:00:00" for when in shown)
    expect(page.locator("#akjob-next-runs")).to_contain_text(re.compile(r"07:(0\d|10):\d\d"))
    shot(page, "job-calendars", at="#id_holidays")


def test_bad_calendar_values_show_errors_on_their_fields(page: Page) -> None:
    job = make_job("monthly", weekly_time=time(7), weekly_days=[2])
    before = Job.objects.filter(pk=job.pk).values().get()
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    page.fill("#id_month_positions", "L, MON#7")
    page.fill("#id_monthly_time", "09:00")
    page.fill("#id_holidays", "Atlantis")
    page.fill("#id_exclude_dates", "2031-02-30")
    page.fill("#id_jitter", "2 00:00:00")
    page.click("input[name=_save]")
    expect(page.locator(".errornote")).to_be_visible()
    # Each error on its field, naming it by its label.
    expect(page.locator("#id_jitter_error")).to_contain_text("“Jitter” must be from 0 to 1 day")
    page.fill("#id_jitter", "00:05:00")
    page.click("input[name=_save]")
    expect(page.locator("#id_month_positions_error")).to_contain_text(
        "'MON#7' is not a place in the month"
    )
    page.fill("#id_month_positions", "L, MON#1")
    page.click("input[name=_save]")
    expect(page.locator("#id_exclude_dates_error")).to_contain_text("'2031-02-30' is not a date")
    page.fill("#id_exclude_dates", "2031-02-28")
    page.click("input[name=_save]")
    expect(page.locator("#id_holidays_error")).to_contain_text("'Atlantis' is not a country code")
    shot(page, "job-calendars-error", at="#id_holidays_error")
    assert Job.objects.filter(pk=job.pk).values().get() == before
    page.fill("#id_holidays", "DE-BY")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    job = Job.objects.get(pk=job.pk)
    assert job.month_positions == "L, MON#1" and job.holidays == "DE-BY"


def job_zone(job: Job):  # type: ignore[no-untyped-def]
    from akjob.jobschedule import job_zone as zone

    return zone(job)
