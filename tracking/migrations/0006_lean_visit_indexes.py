
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0004_segment_preset_key'),
        ('tracking', '0005_double_opt_in'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='visit',
            name='tracking_visit_visitor',
        ),
        migrations.AlterField(
            model_name='visit',
            name='lead',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='visits', to='leads.lead'),
        ),
        migrations.AlterField(
            model_name='visit',
            name='visitor',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='visits', to='tracking.visitor'),
        ),
        migrations.AlterField(
            model_name='visitor',
            name='lead',
            field=models.ForeignKey(blank=True, db_index=False, help_text='the lead this browser belongs to now', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='visitors', to='leads.lead'),
        ),
        migrations.AlterField(
            model_name='visitor',
            name='site',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='visitors', to='tracking.site'),
        ),
        migrations.AddIndex(
            model_name='visit',
            index=models.Index(fields=['visitor', '-started_at'], name='tracking_visit_visitor'),
        ),
        # The writer updates visitors and visits in every batch: room on each
        # page lets PostgreSQL do those as HOT updates (no index writes).
        migrations.RunSQL(
            "ALTER TABLE tracking_visitor SET (fillfactor = 70);"
            "ALTER TABLE tracking_visit SET (fillfactor = 70);",
            "ALTER TABLE tracking_visitor RESET (fillfactor);"
            "ALTER TABLE tracking_visit RESET (fillfactor);",
        ),
    ]
