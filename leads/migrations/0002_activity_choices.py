"""The activity choice lists of seed 004 (活動履歴の項目設定); editable in the admin."""

from django.db import migrations

CHOICES = {
    "type": [("mail", "メール"), ("phone", "電話"), ("visit", "訪問"), ("web_meeting", "WEBミーティング")],
    "result": [("continue", "継続フォロー"), ("opportunity", "商談化"), ("archive", "アーカイブ")],
    "source": [
        ("whitepaper", "ホワイトペーパー"),
        ("document_request", "資料請求"),
        ("seminar", "セミナー"),
        ("hot_list", "HOTリードリスト"),
        ("dig_up_list", "掘り起こしリスト"),
        ("other", "その他"),
    ],
}


def create(apps, schema_editor):
    ActivityChoice = apps.get_model("leads", "ActivityChoice")
    for kind, items in CHOICES.items():
        for position, (code, label) in enumerate(items):
            ActivityChoice.objects.get_or_create(
                kind=kind, code=code, defaults={"label": label, "position": position}
            )


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
