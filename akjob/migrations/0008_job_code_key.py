from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('akjob', '0007_schedule_policies'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='code_key',
            field=models.CharField(blank=True, default=None, editable=False, max_length=200, null=True, unique=True),
        ),
        migrations.AddField(
            model_name='job',
            name='code_declaration',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.AddField(
            model_name='job',
            name='code_removed',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
