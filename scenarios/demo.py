"""Demo mail: the sender profile, a send window, four step-mail templates and
the seed's sequence — a document request (tag 資料請求) starts step mail about
the document; 失注 ends it. Safe to run again."""

from __future__ import annotations

import datetime

from leads.models import Tag
from scenarios.models import EmailTemplate, SenderProfile, SendWindow, SequenceStep, StepSequence

STEPS = [
    (
        0,
        "資料ダウンロードのお礼",
        "{{ lead.company }} {{ lead.last_name }} 様、資料のご請求ありがとうございます",
        "<p>{{ lead.company }}<br>"
        "{{ lead.last_name }} {{ lead.first_name|default('ご担当者') }} 様</p>"
        "<p>資料をご請求いただきありがとうございます。Kizuki は、見込み客の「今」に気づき、"
        "営業が動くべき瞬間をお知らせするツールです。</p>"
        '<p><a href="https://demo.kizuki.example/product">製品概要を見る</a></p>',
    ),
    (
        1,
        "導入事例のご紹介",
        "導入3か月で商談化率が2倍になった事例",
        "<p>{{ lead.last_name }} 様</p><p>同じ業界のお客様が、HOTリードへの即時対応で"
        "商談化率を2倍にした事例をご紹介します。</p>"
        '<p><a href="https://demo.kizuki.example/cases">導入事例を読む</a></p>',
    ),
    (
        2,
        "何もしないことのコスト",
        "資料請求の後、7割の見込み客は他社を検討しています",
        "<p>{{ lead.last_name }} 様</p><p>問い合わせへの初回対応が1日遅れるごとに、"
        "商談化の可能性は下がっていきます。</p>"
        '<p><a href="https://demo.kizuki.example/roi">損失を試算する</a></p>',
    ),
    (
        3,
        "お客様の声",
        "「営業がHOTリードに迷わず電話できるようになった」",
        "<p>{{ lead.last_name }} 様</p><p>インサイドセールスのご担当者の声をお届けします。</p>"
        '<p><a href="https://demo.kizuki.example/voices">お客様の声を見る</a></p>'
        '<p><a href="https://demo.kizuki.example/demo">デモを予約する</a></p>',
    ),
]


def load(context) -> None:
    if not SenderProfile.objects.exists():
        SenderProfile.objects.create(
            from_name="株式会社デモ マーケティング部",
            from_email="marketing@demo.kizuki.example",
            postal_address="〒100-0005\n東京都千代田区丸の内1-1-1",
            contact="03-0000-0000 / marketing@demo.kizuki.example",
        )
    window, _ = SendWindow.objects.get_or_create(
        name="平日 9:00–18:00",
        defaults={
            "weekdays": [0, 1, 2, 3, 4],
            "start_time": datetime.time(9),
            "end_time": datetime.time(18),
            "time_zone": "Asia/Tokyo",
        },
    )
    trigger, _ = Tag.objects.get_or_create(name="資料請求")
    lost, _ = Tag.objects.get_or_create(name="失注")
    sequence, created = StepSequence.objects.get_or_create(
        name="資料請求フォロー（ステップメール）",
        defaults={
            "trigger": StepSequence.Trigger.TAG_ADDED,
            "trigger_tag": trigger,
            "exit_tag": lost,
        },
    )
    for day, name, subject, body in STEPS:
        template, _ = EmailTemplate.objects.get_or_create(
            name=f"ステップ{day + 1}: {name}", defaults={"subject": subject, "html_body": body}
        )
        if created:
            SequenceStep.objects.create(
                sequence=sequence,
                position=day,
                day_offset=day,
                send_time=datetime.time(10),
                template=template,
                send_window=window,
            )
    if context.stdout is not None:
        context.stdout.write("Mail: sender profile, step mail “資料請求フォロー” (4 steps)")
