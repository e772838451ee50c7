"""RFC 8058 one-click unsubscribe works without login or CSRF token, is
idempotent and stops the next send at once; the preference page lets a
person stop newsletters only or everything; both show on the timeline."""

import pytest
from django.test import Client

from leads.models import Suppression
from leads.timeline import lead_timeline
from scenarios.models import Send
from scenarios.sending import sends_dispatch
from scenarios.services import newsletter_schedule, newsletters_materialize_due

from .conftest import consenting_lead, newsletter_to, received

PUBLIC = "https://kizuki.example.co.jp"


def send_newsletter(leads, template, name):
    newsletter = newsletter_to(leads, template, name=name)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()
    sends_dispatch()
    return newsletter


@pytest.mark.django_db
def test_one_click_post_unsubscribes_at_once_and_is_idempotent(profile, template, smtp_settings):
    # given a lead that received a newsletter
    lead = consenting_lead()
    send_newsletter([lead], template, "1")
    [message] = received(smtp_settings)
    path = str(message["List-Unsubscribe"]).strip().strip("<>").replace(PUBLIC, "")

    # when the mailbox provider POSTs the one-click body, without cookies or CSRF token
    client = Client(enforce_csrf_checks=True)
    first = client.post(path, {"List-Unsubscribe": "One-Click"})
    again = client.post(path, {"List-Unsubscribe": "One-Click"})

    # then the lead is unsubscribed from all marketing mail, once
    assert first.status_code == again.status_code == 200
    suppression = Suppression.objects.get(lead=lead)
    assert (suppression.channel, suppression.reason) == ("email", "unsubscribe")
    assert any(e.kind == "suppression" for e in lead_timeline(lead.pk).entries)

    # and the next newsletter does not reach them
    send_newsletter([lead, consenting_lead()], template, "2")
    assert [m["To"] for m in received(smtp_settings)].count(lead.email) == 1


@pytest.mark.django_db
def test_pending_sends_stop_when_the_lead_unsubscribes(profile, template, smtp_settings):
    lead = consenting_lead()
    newsletter = newsletter_to([lead], template)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()
    from scenarios.links import unsubscribe_url

    Client().post(unsubscribe_url(lead.pk).replace(PUBLIC, ""), {"List-Unsubscribe": "One-Click"})
    sends_dispatch()

    assert Send.objects.get().state == Send.State.SKIPPED
    assert received(smtp_settings) == []


@pytest.mark.parametrize("token", ["1:forged", "abc", "99999:x"])
@pytest.mark.django_db
def test_an_unknown_or_tampered_token_is_refused(token):
    response = Client().post(f"/m/u/{token}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
    assert not Suppression.objects.exists()
    assert Client().get(f"/m/u/{token}/").status_code == 404


@pytest.mark.django_db
def test_preference_page_stops_newsletters_but_keeps_step_mail(profile, template, smtp_settings):
    from scenarios.links import unsubscribe_url

    lead = consenting_lead()
    path = unsubscribe_url(lead.pk).replace(PUBLIC, "")

    # the page is in Japanese for a Japanese reader and offers both choices
    page = Client().get(path, HTTP_ACCEPT_LANGUAGE="ja")
    assert page.status_code == 200
    text = page.content.decode()
    assert "配信設定" in text and 'value="newsletter"' in text and 'value="email"' in text

    # when the reader stops newsletters only
    answer = Client(enforce_csrf_checks=True).post(path, {"choice": "newsletter"})
    assert answer.status_code == 200
    assert Suppression.objects.get(lead=lead).channel == "newsletter"

    # then a newsletter is skipped, a step mail still goes
    send_newsletter([lead], template, "news")
    Send.objects.create(lead=lead, template=template, source_key="step:1:1", kind="step")
    sends_dispatch()
    states = dict(Send.objects.values_list("kind", "state"))
    assert states == {"newsletter": "skipped", "step": "sent"}
    assert len(received(smtp_settings)) == 1

    # and a bad answer is a message, not an error page
    assert Client().post(path, {"choice": "nonsense"}).status_code == 400
