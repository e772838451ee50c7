"""A lead turning HOT alerts its owner within a minute: one email with what a
rep needs to call right away (seed 001) and one compact Slack post."""

import re

import pytest
from django.utils import timezone

from scoring.alerts.models import Alert, AlertDelivery, AlertPreference, AlertRule
from scoring.alerts.services import alert_rule_saved

from .conftest import make_hot, parsed, parts, subject, wait_until


def hot_rule(**fields) -> AlertRule:
    rule = AlertRule.objects.create(
        name="HOT → 担当者", trigger="became_hot", cooldown_days=7, **fields
    )
    alert_rule_saved(rule)
    return rule


@pytest.mark.django_db(transaction=True)
def test_hot_crossing_emails_the_owner_and_posts_to_slack_once(
    celery_worker_process, alert_mail, hook_server, prospect, rep
):
    # given a HOT rule with Slack, a rep reading English, and a worker
    slack = hook_server()
    hot_rule(slack_webhook_url=slack.url)
    AlertPreference.objects.create(user=rep, language="en")
    celery_worker_process("default")

    # when the lead's score crosses the HOT threshold
    make_hot(prospect, timezone.now())

    # then within 60 s the owner has one email and Slack one post
    took = wait_until(lambda: len(alert_mail.messages) >= 1 and len(slack.delivered) >= 1)
    assert took < 60
    assert (
        wait_until(lambda: AlertDelivery.objects.filter(state="sent").count() == 2, timeout=10) < 10
    )
    assert len(alert_mail.messages) == 1 and len(slack.delivered) == 1
    assert Alert.objects.get().lead == prospect
    envelope = alert_mail.messages[0]
    assert envelope.rcpt_tos == ["tanaka@example.co.jp"]
    message = parsed(envelope)
    assert subject(message) == "[Kizuki] Became HOT: 佐藤 花子 (株式会社ミナト製作所)"
    body = parts(message)
    text, html = body["text/plain"], body["text/html"]
    lead_url = f"/admin/leads/lead/{prospect.pk}/change/"
    for expected in [
        "佐藤 花子",
        "株式会社ミナト製作所",
        "生産管理部 部長",
        "03-1234-5678",
        "Score: 120 (HOT)",
        "セミナー参加: +120",  # the explanation, rule by rule
        "導入事例 デンソー様",  # last page views, with times (JST)
        "2026-11-02 12:09 お問い合わせ",
        "展示会2026",  # interests: tags and page groups
        "/pricing (7)",
        "資料請求フォーム",  # recent forms
        "11月のセミナー案内",  # emails clicked
        "ROI試算ページ",  # what similar customers looked at
        "導入相談会 申込 (2 customers)",
        "http://127.0.0.1:8000" + lead_url,  # an absolute link to the lead page
    ]:
        assert expected in text, expected
    # only the last 10 page views: the first one is not listed
    recent = text.split("Last page views", 1)[1].split("Interests", 1)[0]
    assert "最初に読んだブログ" not in recent
    assert len(re.findall(r"^- 2026-", recent, re.MULTILINE)) == 10
    assert f'href="http://127.0.0.1:8000{lead_url}"' in html
    assert "佐藤 花子" in html and "ROI試算ページ" in html
    post = slack.json()
    assert "佐藤 花子" in post["text"] and "HOT" in post["text"]
    assert lead_url in post["text"]


@pytest.mark.django_db(transaction=True)
def test_the_email_is_in_japanese_when_the_rep_chose_no_language(alert_mail, prospect, rep):
    from scoring.alerts.services import deliveries_sweep, delivery_send

    # given a HOT rule and a rep without a language preference
    hot_rule()

    # when the lead turns HOT and the due deliveries are sent
    make_hot(prospect, timezone.now())
    for delivery_id in deliveries_sweep():
        delivery_send(delivery_id)

    # then the email speaks Japanese (the site language)
    text = parts(parsed(alert_mail.messages[0]))["text/plain"]
    assert "スコア: 120 (HOT)" in text
    assert "リードを開く" in text
