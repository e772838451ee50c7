"""The ledger keeps event counts only; points are applied when it is read.

Existing rows keep their counts. Active rules were counted by their current
matching fields; inactive ones have no rows and are recounted by the next
rescore (every rule is counted from now on)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0004_hotlists"),
    ]

    operations = [
        migrations.RemoveField(model_name="scoreday", name="points"),
        migrations.RemoveField(model_name="scoreday", name="raw_points"),
        migrations.AddField(
            model_name="scorerule",
            name="counted",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunSQL(
            "UPDATE scoring_scorerule SET counted = concat_ws(chr(31), event_type, url_like, "
            "form_key) WHERE is_active",
            migrations.RunSQL.noop,
        ),
    ]
