"""Jobs declared in code in the admin: marked with their module and function, schedule fields
read-only (a POST cannot change them), enable/disable and Run now kept, and an admin's disable
surviving the next sync. The page itself in a real browser (Playwright, Debian's chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

import akjob
from akjob import sync
from akjob.codeobjects import JobCallable
from akjob.models import Job
from tests.admin.conftest import job_form
from tests.admin.test_browser import (  # noqa: F401 - fixtures
    browser,
    page,
    shot,
    static_files,
)
from tests.incode import funcs, isolation

POLL = "tests.incode.funcs.poll"


@pytest.fixture(autouse=True)
def no_declarations() -> Iterator[None]:
    with isolation.no_declarations():
        yield


def declared_job() -> Job:
    akjob.scheduled(every="15m", name="Poll the warehouse", timeout="1m")(funcs.poll)
    sync.sync(discover=False)
    return Job.objects.get(code_key=POLL)


def test_a_post_cannot_change_what_the_code_declares(admin_client: Client) -> None:
    job = declared_job()
    url = f"/admin/akjob/job/{job.pk}/change/"
    response = admin_client.get(url)
    html = response.content.decode()
    assert "Declared in code" in html and POLL in html
    assert 'name="run_every"' not in html and 'name="function"' not in html
    assert 'name="job_enabled"' in html
    data = job_form(
        job,
        run_every="0:00:05",
        cron="* * * * *",
        name="renamed",
        function="tests.admin.jobfuncs.cleanup",
        job_enabled=False,
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(pk=job.pk)
    assert job.run_every == timedelta(minutes=15) and job.cron == "" and job.name != "renamed"
    assert job.job_code_object == JobCallable(POLL)
    assert not job.job_enabled  # the one thing the operator changes
    sync.sync(discover=False)
    assert not Job.objects.get(pk=job.pk).job_enabled


def test_a_job_made_in_the_admin_stays_editable(admin_client: Client) -> None:
    job = Job(name="by hand", run_every=timedelta(minutes=5))
    job.job_code_object = JobCallable(POLL)
    job.save()
    html = admin_client.get(f"/admin/akjob/job/{job.pk}/change/").content.decode()
    assert "Declared in code" not in html and 'name="run_every"' in html


@pytest.mark.browser
def test_the_code_managed_page_in_the_browser(page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    job = declared_job()
    page.goto("/admin/akjob/job/")
    row = page.locator("#result_list tbody tr", has_text="Poll the warehouse")
    expect(row.locator("td.field-in_code_column img")).to_have_attribute("alt", "True")

    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    expect(page.locator(".field-declared_in_code")).to_contain_text(POLL)
    expect(page.locator(".field-run_every .readonly")).to_have_text("0:15:00")
    expect(page.locator(".field-timeout .readonly")).to_have_text("0:01:00")
    assert page.locator("#id_run_every, #id_cron, #id_name, #id_function").count() == 0
    shot(page, "code-managed-job", full=True)

    page.uncheck("#id_job_enabled")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    sync.sync(discover=False)  # the next deploy's sync
    page.goto(f"/admin/akjob/job/{job.pk}/change/")
    expect(page.locator("#id_job_enabled")).not_to_be_checked()
    expect(page.locator("#akjob-no-run-reason")).to_contain_text("disabled")

    # Enable again with the list's action; Run now is offered for it like for any job.
    page.goto("/admin/akjob/job/")
    row = page.locator("#result_list tbody tr", has_text="Poll the warehouse")
    row.locator("input.action-select").check()
    options = page.locator("select[name=action] option").all_inner_texts()
    assert "Run selected jobs now" in options
    page.select_option("select[name=action]", label="Enable selected jobs")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("1 job(s) enabled")
    sync.sync(discover=False)
    assert Job.objects.get(pk=job.pk).job_enabled
