"""A newsletter renders its template once per skeleton and fills in each
lead's values; every mail must be exactly the mail the one-by-one renderer
makes (same HTML, text part, subject and links), whatever the template does
with the lead's data, and templates that print fields must take the fast way."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from leads.models import CustomField
from leads.tests.factories import LeadFactory
from scenarios import links, rendering
from scenarios.rendering import Footer, MailRenderer, lead_context, render_mail

PROFILE = {
    "from_name": "株式会社キヅキ",
    "postal_address": "〒100-0001\n東京都千代田区",
    "contact": "03-1234-5678",
}

TEMPLATES = [
    # (subject, preheader, body)
    (
        "{{ lead.company }} {{ lead.last_name }} 様",
        "",
        (
            "<style>p { color: #333; } a { color: #0b6e4f; } p:empty { display: none; }</style>"
            '<p>{{ lead.last_name }} {{ lead.first_name|default("ご担当者") }} 様</p><p></p>'
            '<p><a href="https://example.co.jp/a?x=1&amp;y=2">資料</a> と '
            "<a href='https://example.co.jp/b'>事例</a> "
            '<a href="mailto:x@example.co.jp">窓口</a></p>'
        ),
    ),
    (
        "{{ lead.last_name|default('お客') }} 様",
        "{{ lead.company }}の皆様へ",
        '<p>{{ lead["department"] }} / {{ lead.custom.seminar|d("次回セミナー") }}</p>'
        "<pre>{{ lead.title }}</pre><textarea>{{ lead.phone }}</textarea>",
    ),
    (
        "件名",
        "",
        (
            '{% if lead.industry == "製造業" %}<p>製造業のみなさま</p>'
            "{% else %}<p>各位</p>{% endif %}"
            "<p>{{ lead.last_name|upper }} {{ lead.last_name[0] }} {{ lead.company|length }}</p>"
            '<a href="https://example.co.jp/?n={{ lead.last_name }}">リンク</a>'
            '<img alt="{{ lead.company }}" src="https://example.co.jp/i.png">'
        ),
    ),
    (
        "A&B {{ lead.email }}",
        "<pre>",
        (
            "AT&{{ lead.company }} &am{{ lead.last_name }} <!-- {{ lead.title }} -->"
            "<script>var x = '{{ lead.last_name }}';</script><p>{{ lead.custom.seminar|safe }}</p>"
            "{% for c in lead.company %}{{ c }}{% endfor %}"
        ),
    ),
]

VALUES = [
    {"last_name": "佐藤", "first_name": "", "company_name": "株式会社アクメ", "industry": "製造業"},
    {"last_name": "O'Brien & <Co>", "first_name": '"Jo"', "company_name": "A&B Corp"},
    {"last_name": "山田　太郎", "first_name": " lead", "company_name": "Two  spaces"},
    {"last_name": "line\nbreak", "first_name": "tab\there", "company_name": "nbsp\xa0here"},
    {"last_name": "p;", "first_name": "amp;", "company_name": "lt;", "title": "--><b>x</b>"},
    {
        "last_name": "",
        "first_name": "",
        "company_name": "",
        "department": "営業部",
        "phone": "03  1",
    },
]


def _context(lead, custom_keys):
    return lead_context(lead, custom_keys)


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["ja", "en"])
def test_each_mail_is_the_one_by_one_mail(language, settings):
    settings.PUBLIC_URL = "https://kizuki.example.co.jp"
    CustomField.objects.create(key="seminar", label="セミナー", type=CustomField.Type.TEXT)
    leads = [LeadFactory(**values) for values in VALUES]
    leads.append(LeadFactory(custom={"seminar": "<b>DX</b> 入門"}))
    urls = links.SendLinks()
    with translation.override(language):
        for subject, preheader, body in TEMPLATES:
            renderer = MailRenderer(subject=subject, preheader=preheader, html_body=body, **PROFILE)
            for round_ in range(2):  # the second round comes from the cached skeletons
                for number, lead in enumerate(leads):
                    send_id = 1000 * round_ + number
                    context = _context(lead, ["seminar"])
                    unsubscribe = urls.unsubscribe_url(lead.pk)
                    try:
                        expected = render_mail(
                            subject=subject, preheader=preheader, html_body=body, context=context,
                            footer=Footer(**PROFILE, unsubscribe_url=unsubscribe),
                            tracked_url=lambda index, s=send_id: links.click_url(s, index),
                            open_pixel_url=links.open_url(send_id),
                        )  # fmt: skip
                    except ValidationError:
                        # a template that fails for this lead fails the same way
                        with pytest.raises(ValidationError):
                            renderer.render(
                                context, unsubscribe_url=unsubscribe,
                                tracked_url=urls.open_url, open_pixel_url="",
                            )  # fmt: skip
                        continue
                    got = renderer.render(
                        context, unsubscribe_url=unsubscribe,
                        tracked_url=lambda index, s=send_id: urls.click_url(s, index),
                        open_pixel_url=urls.open_url(send_id),
                    )  # fmt: skip
                    assert got == expected, (subject, body, lead.last_name)


@pytest.mark.django_db
def test_a_template_that_prints_fields_is_finished_once_per_shape(monkeypatch, settings):
    settings.PUBLIC_URL = "https://kizuki.example.co.jp"
    finished = []
    real_finish = rendering._finish
    monkeypatch.setattr(
        rendering, "_finish", lambda *a, **k: finished.append(1) or real_finish(*a, **k)
    )
    rendering._skeleton.cache_clear()
    jinja_renders = []
    monkeypatch.setattr(rendering, "_render_sources", lambda *a: jinja_renders.append(1))
    subject, preheader, body = TEMPLATES[0]
    renderer = MailRenderer(subject=subject, preheader=preheader, html_body=body, **PROFILE)
    leads = [LeadFactory(last_name=f"姓{n}", first_name="" if n % 2 else "名") for n in range(20)]

    mails = [
        renderer.render(
            _context(lead, []),
            unsubscribe_url=links.unsubscribe_url(lead.pk),
            tracked_url=lambda index, n=n: links.click_url(n, index),
            open_pixel_url=links.open_url(n),
        )
        for n, lead in enumerate(leads)
    ]

    # two shapes (first name blank or not), each finished once plus its probe
    assert len(finished) == 4
    assert jinja_renders == []
    assert "姓3 ご担当者 様" in mails[3].html and "姓4 名 様" in mails[4].text
    assert links.click_url(7, 1) in mails[7].html


def test_link_signing_matches_the_one_by_one_functions(settings):
    settings.PUBLIC_URL = "https://kizuki.example.co.jp/base"
    urls = links.SendLinks()
    for number in (1, 42, 987654321):
        assert urls.click_url(number, 3) == links.click_url(number, 3)
        assert urls.open_url(number) == links.open_url(number)
        assert urls.unsubscribe_url(number) == links.unsubscribe_url(number)
        token = urls.click_url(number, 3).rstrip("/").rsplit("/", 1)[-1]
        assert links.read_click_token(token) == (number, 3)
