"""A run in progress is a run record, held unique per job by the database; the job's own
running flag goes."""

from django.db import migrations, models


def mark_runs_in_progress(apps, schema_editor):
    """Each job's newest running record becomes its run in progress; older ones (left by a
    flag-based version that lost track of them) are recorded interrupted."""
    JobRun = apps.get_model("akjob", "JobRun")
    seen = set()
    for run in JobRun.objects.filter(status="running").order_by("-scheduled", "-id"):
        if run.job_id is None or run.job_id in seen:
            run.status, run.error = "interrupted", "superseded by a later run in progress"
            run.save(update_fields=["status", "error"])
            continue
        seen.add(run.job_id)
        run.running_for = run.job_id
        run.save(update_fields=["running_for"])


class Migration(migrations.Migration):
    dependencies = [
        ("akjob", "0003_jobrun_task_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="jobrun",
            name="running_for",
            field=models.PositiveBigIntegerField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.RunPython(mark_runs_in_progress, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="job",
            name="_job_running",
        ),
    ]
