from __future__ import annotations

from django.apps import AppConfig


class AkjobConfig(AppConfig):
    name = "akjob"
    verbose_name = "akjob"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import (
            m2m_changed,
            post_delete,
            post_migrate,
            post_save,
            pre_delete,
        )

        from akjob import models, signals

        post_save.connect(signals.on_job_saved, sender=models.Job)
        pre_delete.connect(signals.on_job_pre_delete, sender=models.Job)
        post_save.connect(signals.on_dates_changed, sender=models.JobDates)
        post_delete.connect(signals.on_dates_changed, sender=models.JobDates)
        for field in (
            "monthly_days",
            "weekly_days",
            "active_monthly_days",
            "active_weekly_days",
            "active_months",
        ):
            m2m_changed.connect(signals.on_days_changed, sender=getattr(models.Job, field).through)

        from akjob import checks, syncpoints

        post_migrate.connect(syncpoints.after_migrate, sender=self)
        from akjob.daemon import autostart

        checks.register()
        autostart.maybe_autostart()  # never in tests, migrations or other commands; see docs
