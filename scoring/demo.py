"""Demo scoring: sensible default rules (seed 003), so the demo has HOT, WARM
and COLD leads."""

from leads.models import Tag
from scoring.alerts import demo as alerts_demo
from scoring.models import FitRule, ScoreRule, ScoringSettings, TagAdjustment
from scoring.services import ledger_from_events, like_pattern, score_leads

RULES = [
    ("ページ閲覧", "page_view", "", 2, 10),
    ("料金ページ閲覧", "page_view", "/pricing", 8, 16),
    ("導入事例の閲覧", "page_view", "/case", 5, 10),
    ("資料ダウンロード", "download", "", 15, 30),
    ("フォーム送信", "form_submit", "", 30, None),
    ("メール内リンククリック", "email_click", "", 5, 15),
    ("久しぶりの再訪", "returned_after_absence", "", 10, None),
]
FIT = [
    ("製造業・建設", {"field": "industry", "op": "in", "value": ["製造業", "建設"]}, 15),
    ("従業員300名以上", {"field": "employee_count", "op": ">=", "value": 300}, 10),
]
TAGS = [("失注", -50), ("コール拒否", -500), ("競合", -100)]


def load(context) -> None:
    if not ScoringSettings.objects.exists():
        ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    for name, event_type, pattern, points, cap in RULES:
        ScoreRule.objects.get_or_create(
            name=name,
            defaults={
                "event_type": event_type,
                "url_pattern": pattern,
                "url_like": like_pattern(pattern),
                "points": points,
                "daily_cap": cap,
            },
        )
    for name, condition, points in FIT:
        FitRule.objects.get_or_create(
            name=name, defaults={"condition": condition, "points": points}
        )
    for tag_name, points in TAGS:
        tag, _ = Tag.objects.get_or_create(name=tag_name)
        TagAdjustment.objects.get_or_create(tag=tag, defaults={"points": points})
    ledger_from_events()
    result = score_leads(None)
    if context.stdout is not None:
        context.stdout.write(f"Scores: {result['changed']} leads rescored")
    alerts_demo.load(context)  # after scoring: today's HOT leads do not all alert at once
    from scoring.hotlists import demo as hotlists_demo  # HOT lists need the scores above

    hotlists_demo.load(context)
