"""Templates render merge tags with defaults in a sandbox, escape the lead's
data, inline CSS and produce a plain-text part; bad templates are refused
with a message naming the problem."""

import pytest
from django.core.exceptions import ValidationError

from leads.models import CustomField
from leads.tests.factories import LeadFactory
from scenarios.rendering import Footer, check_template, lead_context, render_mail

FOOTER = Footer(
    from_name="株式会社キヅキ",
    postal_address="東京都千代田区千代田1-1",
    contact="03-1234-5678",
    unsubscribe_url="https://kizuki.example.co.jp/m/u/x/",
)


def render(body: str, lead, subject: str = "件名", **kwargs):
    return render_mail(
        subject=subject, preheader="", html_body=body, context=lead_context(lead), footer=FOOTER,
        **kwargs,
    )  # fmt: skip


@pytest.mark.django_db
def test_merge_tags_company_name_and_default():
    # given a lead without a first name
    lead = LeadFactory(last_name="佐藤", first_name="", company_name="株式会社アクメ")

    # when the template is rendered for it
    mail = render(
        '{{ lead.company }} {{ lead.last_name }} {{ lead.first_name|default("ご担当者") }} 様',
        lead,
        subject="{{ lead.last_name }} 様へ",
    )

    # then the tags are filled and the empty field falls back to the default
    assert "株式会社アクメ 佐藤 ご担当者 様" in mail.html
    assert mail.subject == "佐藤 様へ"
    assert "株式会社アクメ 佐藤 ご担当者 様" in mail.text


@pytest.mark.django_db
def test_custom_fields_are_merge_tags():
    CustomField.objects.create(key="seminar", label="セミナー", type=CustomField.Type.TEXT)
    lead = LeadFactory(custom={"seminar": "DX入門"})
    other = LeadFactory(custom={})

    body = '{{ lead.custom.seminar|default("次回セミナー") }}のご案内'
    assert "DX入門のご案内" in render(body, lead).html
    assert "次回セミナーのご案内" in render(body, other).html


@pytest.mark.django_db
def test_the_leads_data_is_escaped_in_html():
    lead = LeadFactory(last_name="<script>alert(1)</script>")
    mail = render("<p>{{ lead.last_name }} 様</p>", lead)
    assert "<script>alert(1)</script>" not in mail.html
    assert "&lt;script&gt;" in mail.html


@pytest.mark.django_db
def test_css_is_inlined_and_footer_and_preheader_are_present():
    lead = LeadFactory()
    mail = render_mail(
        subject="s", preheader="事例つき", context=lead_context(lead), footer=FOOTER,
        html_body='<style>p.x { color: #0b6e4f; }</style><p class="x">本文</p>',
    )  # fmt: skip
    assert 'style="color: #0b6e4f;"' in mail.html
    assert "事例つき" in mail.html
    for legal in (
        "株式会社キヅキ",
        "東京都千代田区千代田1-1",
        "03-1234-5678",
        FOOTER.unsubscribe_url,
    ):
        assert legal in mail.html
        assert legal in mail.text
    assert "<p" not in mail.text


@pytest.mark.django_db
def test_links_are_rewritten_and_recorded_in_order():
    lead = LeadFactory()
    mail = render(
        '<a href="https://a.example.jp/x?y=1&amp;z=2">A</a> <a href="mailto:x@y.jp">m</a>'
        ' <a href="https://b.example.jp/">B</a>',
        lead,
        tracked_url=lambda index: f"https://kizuki.example.co.jp/m/c/{index}/",
    )
    assert mail.links == ["https://a.example.jp/x?y=1&z=2", "https://b.example.jp/"]
    assert 'href="https://kizuki.example.co.jp/m/c/0/"' in mail.html
    assert 'href="mailto:x@y.jp"' in mail.html
    # the footer's unsubscribe link is not a tracked link
    assert FOOTER.unsubscribe_url in mail.html


@pytest.mark.parametrize(
    ("field", "source", "expected"),
    [
        ("html_body", "<p>{{ lead.last_name </p>", "Template syntax error on line 1"),
        ("html_body", "<p>{% if %}</p>", "Template syntax error"),
        ("subject", "{{ lead.nickname }} 様", "Unknown merge tag"),
        ("html_body", "{{ lead.__class__.__mro__ }}", ""),
        ("html_body", "{{ ''.__class__.__subclasses__() }}", ""),
    ],
)
@pytest.mark.django_db
def test_bad_templates_are_refused_with_a_message(field, source, expected):
    parts = {"subject": "件名", "preheader": "", "html_body": "<p>本文</p>"}
    parts[field] = source
    with pytest.raises(ValidationError) as caught:
        check_template(**parts)
    messages = caught.value.message_dict[field]
    assert messages and expected in messages[0]
