"""Links in a sent mail redirect through signed addresses to the mail's own
links only; a click records an email_click event and ties the browser to the
lead; the open pixel records an email_open."""

import re

import pytest
from django.test import Client

from leads.timeline import lead_timeline
from scenarios.models import Send
from scenarios.sending import sends_dispatch
from scenarios.services import newsletter_schedule, newsletters_materialize_due
from tracking.models import Event, Identification, Site, Visitor

from .conftest import consenting_lead, html_part, newsletter_to, received

PUBLIC = "https://kizuki.example.co.jp"


@pytest.fixture
def sent_mail(profile, template, smtp_settings):
    lead = consenting_lead()
    newsletter = newsletter_to([lead], template)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()
    sends_dispatch()
    [message] = received(smtp_settings)
    html = html_part(message)
    clicks = [u.replace(PUBLIC, "") for u in re.findall(rf'href="({PUBLIC}/m/c/[^"]+)"', html)]
    [pixel] = [u.replace(PUBLIC, "") for u in re.findall(rf'src="({PUBLIC}/m/o/[^"]+)"', html)]
    return lead, clicks, pixel


@pytest.mark.django_db
def test_a_click_redirects_to_the_link_and_records_the_event(sent_mail):
    lead, clicks, _pixel = sent_mail
    assert len(clicks) == 2

    response = Client().get(clicks[0])

    assert response.status_code == 302
    assert response["Location"] == "https://www.example.co.jp/docs/a?utm_source=mail&x=1"
    event = Event.objects.get(type="email_click")
    assert event.lead_id == lead.pk
    assert event.url == "https://www.example.co.jp/docs/a?utm_source=mail&x=1"
    assert event.properties["send"] == Send.objects.get().pk
    assert any(e.kind == "email_click" for e in lead_timeline(lead.pk).entries)


@pytest.mark.django_db
def test_a_click_identifies_the_browser_by_its_visitor_cookie(sent_mail):
    # given the link's site is tracked and the browser carries the snippet's cookie
    lead, clicks, _pixel = sent_mail
    site = Site.objects.create(name="corp", domains=["www.example.co.jp"])
    browser = Client()
    browser.cookies["_kz_vid"] = "0b1c2d3e-anon"

    browser.get(clicks[1])

    visitor = Visitor.objects.get(site=site, anon_id="0b1c2d3e-anon")
    assert visitor.lead_id == lead.pk
    assert Identification.objects.get(visitor=visitor).method == "email_click"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda path: path.replace("/m/c/", "/m/c/9"),  # another send id, same signature
        lambda path: re.sub(r"\.1:", ".5:", path),  # a link index the mail did not have
        lambda path: path[:-3] + "x/",  # a broken signature
        lambda _path: "/m/c/1.0:forged/",
    ],
)
@pytest.mark.django_db
def test_a_tampered_link_redirects_nowhere(sent_mail, tamper):
    _lead, clicks, _pixel = sent_mail
    response = Client().get(tamper(clicks[1]))
    assert response.status_code == 404
    assert "Location" not in response
    assert not Event.objects.filter(type="email_click").exists()


@pytest.mark.django_db
def test_the_open_pixel_records_an_open(sent_mail):
    lead, _clicks, pixel = sent_mail
    response = Client().get(pixel)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert Event.objects.get(type="email_open").lead_id == lead.pk
    # a forged pixel answers an image and records nothing
    assert Client().get("/m/o/1:forged/px.gif").status_code == 200
    assert Event.objects.filter(type="email_open").count() == 1


@pytest.mark.django_db
def test_newsletter_counts_unique_opens_clicks_and_clicks_per_link(sent_mail):
    from scenarios.models import Newsletter
    from scenarios.selectors import newsletter_counts, newsletter_link_clicks

    _lead, clicks, pixel = sent_mail
    browser = Client()
    browser.get(pixel)
    browser.get(pixel)
    browser.get(clicks[1])
    browser.get(clicks[1])

    newsletter = Newsletter.objects.get()
    counts = newsletter_counts(newsletter)
    assert (counts["unique_opens"], counts["unique_clicks"]) == (1, 1)
    assert newsletter_link_clicks(newsletter) == [("https://www.example.co.jp/case", 2, 1)]
