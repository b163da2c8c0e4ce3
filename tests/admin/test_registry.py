"""The job function registry: the decorator and the AKJOB_JOB_FUNCTIONS setting (docs/admin.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

import akjob
from akjob import registry
from akjob.models import Job, JobCallable
from tests.admin.conftest import CLEANUP, REPORT


@pytest.fixture
def clean(monkeypatch):
    monkeypatch.setattr(registry, "_decorated", {})


def module_function() -> str:
    return "called"


def test_the_decorator_registers_by_dotted_path_and_returns_the_function(clean, settings):
    settings.AKJOB_JOB_FUNCTIONS = []
    assert akjob.job_function(module_function) is module_function
    path = f"{__name__}.module_function"
    assert registry.registered() == [registry.JobFunction(path, path)]
    akjob.job_function(name="A label")(module_function)
    assert registry.get(path).choice_label() == f"A label ({path})"


def test_setting_and_decorator_are_merged_and_sorted(settings):
    settings.AKJOB_JOB_FUNCTIONS = [CLEANUP, REPORT]
    functions = {f.path: f.label for f in registry.registered()}
    assert functions[REPORT] == "Send the report"  # the decorator's label wins
    assert functions[CLEANUP] == CLEANUP


def test_functions_that_cannot_be_imported_by_name_are_refused(clean):
    def local() -> None:
        pass

    with pytest.raises(ImproperlyConfigured, match="module-level functions only"):
        akjob.job_function(local)
    with pytest.raises(ImproperlyConfigured, match="module-level"):
        akjob.job_function(lambda: None)


def test_a_bad_setting_is_reported(settings):
    settings.AKJOB_JOB_FUNCTIONS = "tests.admin.jobfuncs.cleanup"
    with pytest.raises(ImproperlyConfigured, match="list of dotted paths"):
        registry.registered()


def test_resolve_imports_registered_functions_only(settings):
    settings.AKJOB_JOB_FUNCTIONS = ["tests.admin.jobfuncs.missing"]
    assert registry.resolve(REPORT).__name__ == "send_report"
    with pytest.raises(LookupError):
        registry.resolve("os.system")
    with pytest.raises(ImportError):
        registry.resolve("tests.admin.jobfuncs.missing")


def test_check_arguments_says_why():
    from tests.admin.jobfuncs import send_report

    registry.check_arguments(send_report, ["ops"], {"copies": 2})
    with pytest.raises(
        TypeError,
        match=r"do not fit send_report\(to, copies=1\): missing a required argument: .to.",
    ):
        registry.check_arguments(send_report, [], {})


def test_importing_akjob_imports_no_models():
    code = (
        "import sys, akjob; akjob.job_function; "
        "assert 'akjob.models' not in sys.modules and 'django.db.models' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.django_db
def test_a_job_from_a_registered_function_runs_it_by_name(tmp_path, monkeypatch):
    from tests.admin import jobfuncs

    out = tmp_path / "out"
    monkeypatch.setenv(jobfuncs.OUTPUT, str(out))
    job = Job.objects.create(name="r")
    job.job_code_object = JobCallable(REPORT, "ops", copies=3)
    job.save()
    Job.objects.get(pk=job.pk).job_code_object.run(ownjob=job)
    assert out.read_text() == "report to ops x3\n"
