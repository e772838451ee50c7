"""Score and rank are rewritten on most leads by every rescore. Two changes let
PostgreSQL do that as heap-only (HOT) updates, which write no index entry at
all: no index holds ``score`` (the rank index stays, rank alone), and the
table keeps half of each page free for the new row versions. Pages written
before this migration fill up as rows are updated and pruned."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("leads", "0005_drop_duplicate_fk_indexes")]

    operations = [
        migrations.RemoveIndex(model_name="lead", name="leads_lead_rank_score"),
        migrations.AddIndex(
            model_name="lead", index=models.Index(fields=["rank"], name="leads_lead_rank")
        ),
        migrations.RunSQL(
            "ALTER TABLE leads_lead SET (fillfactor = 50);",
            "ALTER TABLE leads_lead RESET (fillfactor);",
        ),
    ]
