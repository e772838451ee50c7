"""The other triggers: a score crossing a threshold, a known lead visiting a
page, a form submitted."""

import datetime

import pytest
import time_machine

from leads.models import Lead
from scoring.alerts.models import Alert, AlertRule
from scoring.alerts.services import alert_rule_saved, alerts_for_score_crossings
from scoring.alerts.tasks import alerts_sweep

from .conftest import make_cold, make_hot, page_views

T0 = datetime.datetime(2026, 11, 9, 1, 0, tzinfo=datetime.UTC)


@pytest.mark.django_db(transaction=True)
def test_a_score_reaching_the_threshold_alerts_once_per_crossing(rep, redis_client):
    # given a lead already above 50 when the rule is made, and one below
    already = Lead.objects.create(email="already@example.co.jp", owner=rep)
    rising = Lead.objects.create(email="rising@example.co.jp", owner=rep)
    with time_machine.travel(T0, tick=False):
        make_hot(already, T0, points=60)
        rule = AlertRule.objects.create(name="50点", trigger="score_crossed", score_threshold=50)
        alert_rule_saved(rule)

        # when the sweep looks: nobody crossed yet
        alerts_sweep()
        assert not Alert.objects.exists()

        # when the other lead rises to exactly 50
        make_hot(rising, T0, points=50)
        alerts_sweep()

    # then it alerts once, and not again on the next look
    assert list(Alert.objects.values_list("lead_id", flat=True)) == [rising.pk]
    assert Alert.objects.get().reason == {"trigger": "score_crossed", "threshold": 50, "score": 50}
    with time_machine.travel(T0 + datetime.timedelta(days=8), tick=False):
        assert alerts_for_score_crossings() == []
        # falling below and rising again after the cooldown crosses again
        make_cold(rising)
        alerts_for_score_crossings()
        make_hot(rising, T0 + datetime.timedelta(days=8), points=55)
        assert len(alerts_for_score_crossings()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_known_lead_visiting_a_page_pattern_alerts(site, rep, redis_client):
    # given a "pricing page" rule
    alert_rule_saved(
        AlertRule.objects.create(name="料金", trigger="page_visited", url_pattern="/pricing")
    )
    lead = Lead.objects.create(email="p@example.co.jp", owner=rep)

    with time_machine.travel(T0, tick=False):
        # when the lead reads a blog post: nothing
        page_views(site, lead, [("https://www.example.co.jp/blog/x", "ブログ", T0)])
        assert not Alert.objects.exists()
        # when it opens the pricing page: an alert naming the page
        page_views(site, lead, [("https://www.example.co.jp/pricing", "料金", T0)])

    alert = Alert.objects.get()
    assert alert.lead == lead
    assert alert.reason["url"] == "https://www.example.co.jp/pricing"


@pytest.mark.django_db(transaction=True)
def test_a_given_form_submitted_alerts_and_another_does_not(site, rep, redis_client):
    from tracking.form_submissions import form_submit
    from tracking.models import Form, FormField

    # given a rule on the quote form, and two forms
    forms = {}
    for key in ("quote", "newsletter"):
        forms[key] = Form.objects.create(name=f"{key} form", key=key, min_fill_seconds=0)
        FormField.objects.create(form=forms[key], field="email", required=True)
    alert_rule_saved(
        AlertRule.objects.create(name="見積", trigger="form_submitted", form_key="quote")
    )

    # when someone submits the newsletter form, then the quote form
    for key in ("newsletter", "quote"):
        form_submit(
            form=forms[key],
            data={"email": "buyer@example.co.jp"},
            consented=False,
            consent_text="",
            url="https://www.example.co.jp/quote",
        )

    # then one alert, for the quote form
    alert = Alert.objects.get()
    assert alert.lead.email == "buyer@example.co.jp"
    assert alert.reason["form"] == "quote"
