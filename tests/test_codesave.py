"""Saving a job's code object (docs/api.md): a change to the code object an instance loaded is
written only if the row still holds what it loaded; an assigned code object always wins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from akjob import codeobjects
from akjob.daemon import runner
from akjob.models import Job, JobCallable

pytestmark = pytest.mark.django_db


class Notes:
    """A code object with state of its own."""

    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self.items: list[str] = []

    def run(self, ownjob: Any) -> None:
        self.items.append("ran")


class ReplacedDuringItsRun(Notes):
    """While it runs, someone (the admin, another process) gives its job another code object;
    then it changes its own state and its job's name, as job code may."""

    def run(self, ownjob: Any) -> None:
        replace_code(ownjob)
        self.items.append("ran")
        ownjob.name = "renamed by the run"


def stored(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def make(code: Any = None) -> Job:
    job = Job(name="job", run_every=timedelta(hours=1))
    job.job_code_object = code if code is not None else Notes("first")
    job.save()
    return stored(job)


def replace_code(job: Job, tag: str = "replacement") -> Job:
    """Give the job another code object, from another instance (the admin, another process)."""
    other = stored(job)
    other.job_code_object = Notes(tag)
    other.save()
    return other


def test_a_new_job_is_signed_at_save_for_its_id_and_version_one() -> None:
    job = Job(name="new", run_every=timedelta(hours=1), job_code_object=Notes("x"))
    assert job.pk is None
    job.save()
    fresh = stored(job)
    assert fresh._code_version == 1
    parts = codeobjects.split(fresh._job_code)
    assert (parts.job, parts.version) == (str(job.pk).encode(), b"1")
    assert fresh.job_code_object.tag == "x"
    assert job._code_dropped is False


def test_every_change_of_the_code_blob_counts_the_version_up() -> None:
    job = make()
    job.job_code_object.items.append("changed")
    job.save()
    assert stored(job)._code_version == 2
    job = stored(job)
    job.job_code_object = Notes("assigned")
    job.save()
    assert stored(job)._code_version == 3
    job.name = "renamed only"
    job.save()
    assert stored(job)._code_version == 3
    job = stored(job)
    job.job_code_object = None
    job.save()
    assert (stored(job)._job_code, stored(job)._code_version) == (None, 4)


def test_the_daemons_save_back_keeps_a_code_object_replaced_during_the_run() -> None:
    job = make(ReplacedDuringItsRun("old"))
    status, error = runner.run_code(job.pk)  # what a run's process does: load, run, save back
    assert (status, error) == ("succeeded", runner.CODE_DROPPED)  # said on the run's record
    fresh = stored(job)
    assert fresh.job_code_object.tag == "replacement"  # not overwritten by the old object
    assert fresh.job_code_object.items == []
    assert fresh.name == "renamed by the run"  # the run's other changes are saved


def test_the_instance_says_its_code_changes_were_dropped() -> None:
    job = make()
    loaded_by_the_run = stored(job)
    code = loaded_by_the_run.job_code_object
    replacement = replace_code(job)
    code.items.append("ran")
    loaded_by_the_run.name = "changed too"
    runner.save_back(loaded_by_the_run, code)
    assert loaded_by_the_run._code_dropped is True
    # The instance now holds the row's code object.
    assert loaded_by_the_run.job_code_object.tag == "replacement"
    fresh = stored(job)
    assert (fresh.name, fresh.job_code_object.tag, fresh._code_version) == (
        "changed too",
        "replacement",
        replacement._code_version,
    )
    loaded_by_the_run.name = "saved again"
    loaded_by_the_run.save()
    assert loaded_by_the_run._code_dropped is False


def test_an_assigned_code_object_wins_over_a_replacement_made_meanwhile() -> None:
    job = make()
    mine = stored(job)
    theirs = replace_code(job, "theirs")
    mine.job_code_object = Notes("mine")
    mine.save()
    assert mine._code_dropped is False
    fresh = stored(job)
    assert fresh.job_code_object.tag == "mine"
    assert fresh._code_version == theirs._code_version + 1


def test_an_unchanged_code_object_is_not_written_over_a_replacement() -> None:
    job = make()
    loaded = stored(job)
    code = loaded.job_code_object
    replace_code(job)
    with CaptureQueriesContext(connection) as queries:
        runner.save_back(loaded, code)
    assert queries.captured_queries == []
    assert loaded._code_dropped is False
    assert stored(job).job_code_object.tag == "replacement"


def test_a_code_object_never_unpickled_is_never_written() -> None:
    job = make()
    loaded = stored(job)
    replace_code(job)
    loaded.name = "renamed"
    loaded.save()
    fresh = stored(job)
    assert (fresh.name, fresh.job_code_object.tag) == ("renamed", "replacement")


def test_a_copy_of_a_job_gets_its_code_signed_for_the_copy() -> None:
    job = make(JobCallable("builtins.print", "hi"))
    copy = stored(job)
    copy.pk = None
    copy._state.adding = True
    copy.save()
    assert copy.pk != job.pk
    assert stored(copy).job_code_object == JobCallable("builtins.print", "hi")
    assert stored(job).job_code_object == JobCallable("builtins.print", "hi")


def test_save_with_update_fields_writes_the_code_only_when_named() -> None:
    job = make()
    job.job_code_object = Notes("not yet")
    job.name = "renamed"
    job.save(update_fields=["name"])
    assert stored(job).job_code_object.tag == "first"
    job.job_code_object = Notes("now")
    job.save(update_fields=["job_code_object"])
    assert stored(job).job_code_object.tag == "now"


def test_refresh_from_db_reads_the_replacement_and_then_saves_nothing() -> None:
    job = make()
    assert job.job_code_object.tag == "first"
    replace_code(job)
    job.refresh_from_db()
    assert job.job_code_object.tag == "replacement"
    with CaptureQueriesContext(connection) as queries:
        job.save()
    assert queries.captured_queries == []
    job.job_code_object.items.append("changed")
    job.save()
    assert job._code_dropped is False
    assert stored(job).job_code_object.items == ["changed"]
