"""A newsletter goes to its list through the real SMTP sink: one mail per lead
with the legal footer, RFC 8058 headers and tracked links; suppressed,
unsubscribed and non-consenting leads are skipped with the reason counted."""

import pytest
from django.core.exceptions import ValidationError

from leads.models import Suppression
from leads.services import suppression_add
from leads.tests.factories import LeadFactory
from scenarios.models import Newsletter, Send
from scenarios.selectors import newsletter_counts
from scenarios.sending import sends_dispatch
from scenarios.services import newsletter_schedule, newsletters_finish, newsletters_materialize_due

from .conftest import consenting_lead, html_part, newsletter_to, received, text_part


@pytest.mark.django_db
def test_a_newsletter_reaches_each_lead_once_with_footer_and_unsubscribe_headers(
    profile, template, smtp_settings
):
    # given three consenting leads, one suppressed, one without consent
    ok = [consenting_lead(company_name="株式会社アクメ", last_name="佐藤", first_name=""),
          consenting_lead()]  # fmt: skip
    suppressed = consenting_lead()
    suppression_add(lead=suppressed, channel=Suppression.Channel.NEWSLETTER, reason="unsubscribe")
    no_consent = LeadFactory()
    newsletter = newsletter_to([*ok, suppressed, no_consent], template)

    # when it is scheduled and the dispatcher runs (twice: a duplicate tick)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()
    newsletters_materialize_due()
    sends_dispatch()
    sends_dispatch()
    newsletters_finish()

    # then each consenting, unsuppressed lead got exactly one mail
    messages = received(smtp_settings)
    assert sorted(m["To"] for m in messages) == sorted(lead.email for lead in ok)
    first = next(m for m in messages if m["To"] == ok[0].email)
    assert first["Subject"].strip() == "株式会社アクメ 佐藤 様へ: 資料Aのご案内"
    assert first["From"].addresses[0].addr_spec == profile.from_email
    assert str(first["List-Unsubscribe"]).strip().startswith("<https://kizuki.example.co.jp/m/u/")
    assert str(first["List-Unsubscribe-Post"]).strip() == "List-Unsubscribe=One-Click"
    html, text = html_part(first), text_part(first)
    for legal in ("株式会社キヅキ マーケティング部", "東京都千代田区千代田1-1", "03-1234-5678"):
        assert legal in html and legal in text
    assert str(first["List-Unsubscribe"]).strip().strip("<>") in html
    assert "佐藤 ご担当者 様" in html
    assert 'style="color: #0b6e4f;"' in html  # CSS inlined
    assert "https://kizuki.example.co.jp/m/c/" in html
    assert "https://kizuki.example.co.jp/m/o/" in html  # open pixel
    assert "https://www.example.co.jp/docs/a" not in html  # links are tracked

    # and the counts say why the others got nothing
    newsletter.refresh_from_db()
    assert newsletter.state == Newsletter.State.DONE
    counts = newsletter_counts(newsletter)
    assert counts["sent"] == 2
    assert counts["skipped"] == 2
    reasons = dict(Send.objects.filter(state="skipped").values_list("lead_id", "reason"))
    assert "Suppressed" in reasons[suppressed.pk]
    assert "consent" in reasons[no_consent.pk]


@pytest.mark.django_db
def test_an_empty_audience_or_missing_profile_is_refused_and_nothing_is_sent(
    template, smtp_settings
):
    newsletter = newsletter_to([], template)
    with pytest.raises(ValidationError, match="sender profile"):
        newsletter_schedule(newsletter=newsletter)


@pytest.mark.django_db
def test_an_empty_list_is_refused(profile, template, smtp_settings):
    newsletter = newsletter_to([], template)
    with pytest.raises(ValidationError, match="no leads"):
        newsletter_schedule(newsletter=newsletter)
    newsletter.refresh_from_db()
    assert newsletter.state == Newsletter.State.DRAFT
    assert not Send.objects.exists()
    assert received(smtp_settings) == []


@pytest.mark.django_db
def test_a_segment_newsletter_is_materialized_in_one_statement_and_throttled(
    profile, template, smtp_settings, django_assert_max_num_queries
):
    # given 30 tagged leads (the segment) and 5 others
    from leads.models import Segment
    from leads.services import tags_add_bulk

    tagged = [consenting_lead() for _ in range(30)]
    others = [consenting_lead() for _ in range(5)]
    tags_add_bulk(lead_ids=[lead.pk for lead in tagged], names=["資料A"], actor_kind="user")
    segment = Segment.objects.create(
        name="資料A", expression="1", blocks={"1": {"kind": "tag", "op": "has", "value": "資料A"}}
    )
    newsletter = Newsletter.objects.create(
        name="資料A特集", template=template, segment=segment, rate_per_minute=10
    )
    newsletter_schedule(newsletter=newsletter)

    # when it is materialized: a fixed number of statements, whatever the audience
    with django_assert_max_num_queries(12):
        newsletters_materialize_due()

    # then the segment's leads have one row each, spread at 10 a minute
    rows = Send.objects.filter(newsletter=newsletter).order_by("due_at", "lead_id")
    assert sorted(rows.values_list("lead_id", flat=True)) == sorted(lead.pk for lead in tagged)
    first, last = rows.first().due_at, rows.last().due_at
    assert (last - first).total_seconds() == 120
    assert not Send.objects.filter(lead__in=others).exists()
