"""Alert rules in the API (CRUD, role permissions) and the admin; bad input
is a 400 with the error shape / a message on the form, never a 500."""

import pytest
from django.urls import reverse

from scoring.alerts.models import Alert, AlertRule
from scoring.alerts.services import alerts_raise


def test_marketers_create_read_change_and_delete_rules(marketer_api):
    created = marketer_api.post(
        "/api/v1/alert-rules/",
        {
            "name": "HOT → 担当者 + Slack",
            "trigger": "became_hot",
            "extra_emails": ["sales@example.co.jp"],
            "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/abc",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["cooldown_days"] == 7 and body["notify_owner"] is True
    assert len(body["webhook_secret"]) >= 32
    url = f"/api/v1/alert-rules/{body['id']}/"
    assert marketer_api.get(url).json()["name"] == "HOT → 担当者 + Slack"
    changed = marketer_api.patch(url, {"cooldown_days": 3}, format="json")
    assert changed.status_code == 200 and changed.json()["cooldown_days"] == 3
    assert marketer_api.delete(url).status_code == 204
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"webhook_url": "ftp://example.co.jp/hook"}, "webhook_url", "http:// or https://"),
        ({"slack_webhook_url": "javascript:alert(1)"}, "slack_webhook_url", ""),
        ({"trigger": "score_crossed"}, "score_threshold", "Give the score"),
        ({"trigger": "page_visited", "url_pattern": "**"}, "url_pattern", "part of the URL"),
        ({"trigger": "form_submitted", "form_key": "nope"}, "form_key", "No form"),
        ({"trigger": "teleported"}, "trigger", ""),
        ({"cooldown_days": 0}, "cooldown_days", "1 to 365"),
        ({"extra_emails": ["not-an-address"]}, "extra_emails", ""),
        (
            {"notify_owner": False, "send_email": True},
            "send_email",
            "reaches nobody",
        ),
    ],
)
def test_bad_rules_are_400_naming_the_field(marketer_api, body, field, message):
    response = marketer_api.post(
        "/api/v1/alert-rules/",
        {"name": "x", "trigger": "became_hot", **body},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert message in " ".join(error["fields"][field])
    assert not AlertRule.objects.exists()


def test_the_api_message_is_japanese_by_default(marketer_api):
    response = marketer_api.post(
        "/api/v1/alert-rules/",
        {"name": "x", "trigger": "became_hot", "webhook_url": "ftp://example.co.jp/"},
        format="json",
    )
    assert response.json()["error"]["fields"]["webhook_url"] == [
        "http:// または https:// で始まるアドレスを指定してください（例: https://hooks.slack.com/…）。"
    ]


def test_a_bad_webhook_url_in_a_change_is_rejected(marketer_api):
    rule = AlertRule.objects.create(name="HOT", trigger="became_hot")
    response = marketer_api.patch(
        f"/api/v1/alert-rules/{rule.pk}/", {"webhook_url": "file:///etc/passwd"}, format="json"
    )
    assert response.status_code == 400
    assert "webhook_url" in response.json()["error"]["fields"]
    rule.refresh_from_db()
    assert rule.webhook_url == ""


def test_sales_reps_see_rules_but_cannot_change_them(sales_api):
    AlertRule.objects.create(name="HOT", trigger="became_hot", webhook_url="https://x.example/")
    listed = sales_api.get("/api/v1/alert-rules/")
    assert listed.status_code == 200
    assert listed.json()[0]["name"] == "HOT" and "webhook_secret" not in listed.json()[0]
    response = sales_api.post(
        "/api/v1/alert-rules/", {"name": "x", "trigger": "became_hot"}, format="json"
    )
    assert response.status_code == 403


def test_alerts_are_listed_with_their_sends(marketer_api, prospect):
    rule = AlertRule.objects.create(name="HOT", trigger="became_hot")
    alerts_raise(rule=rule, reasons={prospect.pk: {"trigger": "became_hot"}})
    body = marketer_api.get(f"/api/v1/alerts/?lead={prospect.pk}").json()
    [alert] = body["results"]
    assert alert["rule"] == rule.pk and alert["lead"] == prospect.pk
    assert [(d["channel"], d["recipient"], d["state"]) for d in alert["deliveries"]] == [
        ("email", "tanaka@example.co.jp", "pending")
    ]


def test_the_admin_says_what_is_wrong_with_a_webhook_url(admin_client):
    # given the admin's "add alert rule" form
    url = reverse("admin:scoring_alertrule_add")
    form = {
        "name": "HOT → webhook",
        "trigger": "became_hot",
        "absence_days": "60",
        "form_key": "",
        "url_pattern": "",
        "notify_owner": "on",
        "extra_emails": "",
        "send_email": "on",
        "slack_webhook_url": "",
        "webhook_url": "ftp://example.co.jp/hook",
        "webhook_secret": "s" * 40,
        "cooldown_days": "7",
        "is_active": "on",
    }

    # when it is saved with an ftp:// webhook
    response = admin_client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")

    # then the form is shown again with the message, and nothing is saved
    assert response.status_code == 200
    assert "Give an http:// or https:// address" in response.content.decode()
    assert not AlertRule.objects.exists()

    # when corrected, it is saved
    response = admin_client.post(
        url, {**form, "webhook_url": "https://crm.example.co.jp/hook"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 302
    assert AlertRule.objects.get().webhook_url == "https://crm.example.co.jp/hook"
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    "page",
    [
        "admin:scoring_alertrule_changelist",
        "admin:scoring_alertrule_add",
        "admin:scoring_alert_changelist",
        "admin:scoring_alertpreference_changelist",
        "admin:scoring_alertpreference_add",
    ],
)
def test_alert_admin_pages_open(admin_client, prospect, page):
    rule = AlertRule.objects.create(name="HOT", trigger="became_hot")
    alerts_raise(rule=rule, reasons={prospect.pk: {"trigger": "became_hot"}})
    response = admin_client.get(reverse(page))
    assert response.status_code == 200
