"""The overlap policy and retries, edited in a real browser (see test_browser.py)."""

from __future__ import annotations

from datetime import time, timedelta

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


def test_edit_overlap_and_retries_in_words(page: Page) -> None:
    job = make_job("report", weekly_time=time(7), weekly_days=[2, 3, 4, 5, 6])
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    expect(page.locator("#id_overlap")).to_have_value("skip")
    page.select_option("#id_overlap", "allow")
    page.fill("#id_max_instances", "3")
    page.fill("#id_retries", "3")
    page.fill("#id_retry_backoff", "30 s")
    page.fill("#id_retry_backoff_factor", "2")
    page.fill("#id_retry_backoff_max", "10 minutes")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    job = Job.objects.get(pk=job.pk)
    assert (job.overlap, job.max_instances, job.retries) == ("allow", 3, 3)
    assert job.retry_backoff == timedelta(seconds=30)
    assert job.retry_backoff_max == timedelta(minutes=10)
    assert job.retry_backoff_factor == 2.0
    # Shown back in words, as typed durations are.
    expect(page.locator("#id_retry_backoff")).to_have_value("30 seconds")
    expect(page.locator("#id_retry_backoff_max")).to_have_value("10 minutes")
    shot(page, "job-overlap-retries", at="#id_overlap")


def test_bad_policy_values_show_errors_on_their_fields_and_save_nothing(page: Page) -> None:
    job = make_job("nightly", weekly_time=time(2), weekly_days=[1])
    before = Job.objects.filter(pk=job.pk).values().get()
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    page.fill("#id_max_instances", "0")
    page.fill("#id_retries", "500")
    page.fill("#id_retry_backoff_factor", "0.5")
    page.fill("#id_retry_backoff", "2 hours")
    page.fill("#id_retry_backoff_max", "1 hour")
    page.click("input[name=_save]")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("#id_max_instances_error")).to_contain_text(
        "runs at once must be from 1 to 100, not 0"
    )
    expect(page.locator("#id_retries_error")).to_contain_text("must be from 0 to 100, not 500")
    expect(page.locator("#id_retry_backoff_factor_error")).to_contain_text(
        "the retry wait factor must be from 1 to 100, not 0.5"
    )
    expect(page.locator("#id_retry_backoff_max_error")).to_contain_text(
        "must not be shorter than the first (2 hours)"
    )
    shot(page, "job-overlap-retries-error", at="#id_max_instances_error")
    assert Job.objects.filter(pk=job.pk).values().get() == before
