from django.db import migrations

from akjob.daytables import fill


def forwards(apps, schema_editor):
    fill(lambda name: apps.get_model("akjob", name))


class Migration(migrations.Migration):
    dependencies = [("akjob", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
