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
    _scenarios()
    if context.stdout is not None:
        context.stdout.write(
            "Mail: sender profile, step mail “資料請求フォロー” (4 steps), scenarios "
            "“資料Aダウンロード後” and “失注後ナーチャリング”"
        )


SCENARIO_MAILS = {
    "a_thanks": (
        "資料A: ダウンロードのお礼",
        "{{ lead.last_name }} 様、資料Aのダウンロードありがとうございます",
        "<p>{{ lead.company }}<br>{{ lead.last_name }} 様</p>"
        "<p>資料Aをダウンロードいただきありがとうございます。"
        "要点をまとめたページもご覧ください。</p>"
        '<p><a href="https://demo.kizuki.example/docs/a/summary">資料Aの要点</a></p>',
    ),
    "a_case": (
        "資料A: 導入事例",
        "資料Aの内容を実践した企業の事例",
        "<p>{{ lead.last_name }} 様</p>"
        "<p>資料Aでご紹介した手法で商談化率を上げた事例です。</p>"
        '<p><a href="https://demo.kizuki.example/cases/a">事例を読む</a></p>',
    ),
    "a_nudge": (
        "資料A: ポイント3つ",
        "資料A、3分で読めるポイントをお送りします",
        "<p>{{ lead.last_name }} 様</p>"
        "<p>お忙しい方向けに、資料Aの要点を3つにまとめました。</p>"
        '<p><a href="https://demo.kizuki.example/docs/a/points">ポイントを見る</a></p>',
    ),
    "lost_checkin": (
        "失注後: その後いかがですか",
        "{{ lead.last_name }} 様、その後いかがでしょうか",
        "<p>{{ lead.last_name }} 様</p><p>以前はご検討いただきありがとうございました。"
        "最近の事例と新機能をご紹介します。</p>"
        '<p><a href="https://demo.kizuki.example/news">新機能を見る</a></p>',
    ),
}


def _scenarios() -> None:
    """The seed's scenario (資料Aダウンロード → 資料Aのステップ, branching on a
    click) and the lost-deal nurture that 失注 starts (seed 003: serious mail
    09:00–10:00, light mail 12:00–13:00 on weekdays)."""
    from scenarios.engine import scenario_save_graph
    from scenarios.models import Scenario

    serious, _ = SendWindow.objects.get_or_create(
        name="平日 9:00–10:00（堅めの内容）",
        defaults={"weekdays": [0, 1, 2, 3, 4], "start_time": datetime.time(9),
                  "end_time": datetime.time(10), "time_zone": "Asia/Tokyo"},
    )  # fmt: skip
    light, _ = SendWindow.objects.get_or_create(
        name="平日 12:00–13:00（軽めの内容）",
        defaults={"weekdays": [0, 1, 2, 3, 4], "start_time": datetime.time(12),
                  "end_time": datetime.time(13), "time_zone": "Asia/Tokyo"},
    )  # fmt: skip
    mails = {
        key: EmailTemplate.objects.get_or_create(
            name=name, defaults={"subject": subject, "html_body": body}
        )[0].pk
        for key, (name, subject, body) in SCENARIO_MAILS.items()
    }
    Tag.objects.get_or_create(name="資料A")
    if not Scenario.objects.filter(name="資料Aダウンロード後").exists():
        scenario = Scenario.objects.create(
            name="資料Aダウンロード後",
            description="資料Aをダウンロードした人に、クリックの有無で内容を変えて案内する。",
            trigger=Scenario.Trigger.TAG_ADDED,
            trigger_config={"tag": "資料A"},
            exit_tags=["失注"],
        )
        scenario_save_graph(scenario=scenario, steps=[
            {"key": "thanks", "kind": "send_email", "next_key": "wait2d",
             "config": {"template": mails["a_thanks"], "send_window": serious.pk}},
            {"key": "wait2d", "kind": "wait", "config": {"days": 2}, "next_key": "clicked"},
            {"key": "clicked", "kind": "branch", "next_key": "case", "else_key": "nudge",
             "config": {"condition": {"kind": "scenario_mail", "action": "clicked",
                                      "step": "thanks"}}},
            {"key": "case", "kind": "send_email", "next_key": "interested",
             "config": {"template": mails["a_case"], "send_window": serious.pk}},
            {"key": "interested", "kind": "add_tag", "config": {"tag": "資料A関心高"},
             "next_key": "end"},
            {"key": "nudge", "kind": "send_email", "next_key": "end",
             "config": {"template": mails["a_nudge"], "send_window": light.pk}},
            {"key": "end", "kind": "end"},
        ])  # fmt: skip
    if not Scenario.objects.filter(name="失注後ナーチャリング").exists():
        scenario = Scenario.objects.create(
            name="失注後ナーチャリング",
            description="失注タグが付いたリードを、1か月後から軽めの案内で育て直す。",
            trigger=Scenario.Trigger.TAG_ADDED,
            trigger_config={"tag": "失注"},
            reentry=Scenario.Reentry.AFTER_EXIT,
        )
        scenario_save_graph(scenario=scenario, steps=[
            {"key": "wait30d", "kind": "wait", "config": {"days": 30}, "next_key": "checkin"},
            {"key": "checkin", "kind": "send_email", "next_key": "nurture",
             "config": {"template": mails["lost_checkin"], "send_window": light.pk}},
            {"key": "nurture", "kind": "set_field", "next_key": "end",
             "config": {"field": "stage", "value": "interest"}},
            {"key": "end", "kind": "end"},
        ])  # fmt: skip
