"""/t/collect: known sites and origins only, bad input is a 4xx, nothing lost."""

import json
import uuid

import pytest
from django.utils import timezone

from tracking import writer
from tracking.models import Event, Visitor


def page_view(url="https://www.example.co.jp/pricing", **extra):
    return {"id": str(uuid.uuid4()), "type": "page_view", "url": url, "title": "料金", **extra}


def stored() -> list[Event]:
    return list(Event.objects.order_by("occurred_at"))


@pytest.mark.django_db(transaction=True)
def test_accepted_events_reach_postgres_through_redis(collect, site, redis_client):
    response = collect({"site": site.key, "visitor": "v-1", "events": [page_view(), page_view()]})
    assert response.status_code == 202
    assert response.json() == {"accepted": 2}
    assert response["Access-Control-Allow-Origin"] == "https://www.example.co.jp"
    assert stored() == []  # queued, not yet written
    assert writer.drain() == 2
    events = stored()
    assert [e.type for e in events] == ["page_view", "page_view"]
    visitor = Visitor.objects.get(anon_id="v-1")
    assert events[0].visitor_id == visitor.pk and events[0].site_id == site.pk
    assert visitor.page_view_count == 2 and visitor.visit_count == 1


@pytest.mark.django_db
def test_a_single_inline_event_is_accepted(collect, site, redis_client):
    response = collect({"site": site.key, "visitor": "v-1", **page_view()})
    assert response.status_code == 202


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "origin", "status", "code"),
    [
        ("{not json", "https://www.example.co.jp", 400, "malformed"),
        (b"\xff\xfe\x00bad", "https://www.example.co.jp", 400, "not_utf8"),
        ("[1, 2]", "https://www.example.co.jp", 400, "malformed"),
        ({"site": "nope", "visitor": "v", "type": "page_view"}, "https://www.example.co.jp", 403,
         "unknown_site"),
        ("SITE", "https://evil.example.com", 403, "origin_not_allowed"),
        ("SITE", "https://example.jp.evil.com", 403, "origin_not_allowed"),
        ({"site": "SITE", "visitor": "", "type": "page_view"}, "https://www.example.co.jp", 400,
         "bad_visitor"),
        ("x" * (65 * 1024), "https://www.example.co.jp", 413, "too_large"),
    ],
)  # fmt: skip
def test_bad_requests_are_4xx_in_the_error_shape(collect, site, body, origin, status, code):
    if body == "SITE":
        body = {"site": site.key, "visitor": "v", "type": "page_view"}
    elif isinstance(body, dict) and body.get("site") == "SITE":
        body["site"] = site.key
    response = collect(body, origin=origin)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_bad_events_are_rejected_and_the_rest_of_the_batch_kept(collect, site, redis_client):
    long_url = "https://www.example.co.jp/" + "a" * 10_000
    far_past = int((timezone.now().timestamp() - 10 * 86400) * 1000)
    response = collect(
        {
            "site": site.key,
            "visitor": "v-2",
            "events": [
                page_view(),
                page_view(url=long_url),
                {"type": "form_submit", "url": "https://www.example.co.jp/"},
                page_view(ts=far_past),
                "not an event",
                page_view(url="https://www.example.co.jp/ok"),
            ],
        }
    )
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 2
    assert set(body["error"]["fields"]) == {"events.1", "events.2", "events.3", "events.4"}
    writer.drain()
    assert [e.url for e in stored()] == [
        "https://www.example.co.jp/pricing",
        "https://www.example.co.jp/ok",
    ]


@pytest.mark.django_db(transaction=True)
def test_redis_down_writes_directly_and_loses_nothing(collect, site, settings):
    # given Redis is unreachable
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    # when a page view arrives
    response = collect({"site": site.key, "visitor": "v-3", "events": [page_view()]})
    # then it is accepted and already in PostgreSQL
    assert response.status_code == 202
    assert len(stored()) == 1


@pytest.mark.django_db
def test_bots_are_not_recorded(collect, site, redis_client):
    response = collect(
        {"site": site.key, "visitor": "v-4", "events": [page_view()]},
        ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    )
    assert response.status_code == 202 and response.json()["ignored"] == "bot"
    assert redis_client.xlen(writer.STREAM) == 0


@pytest.mark.django_db(transaction=True)
def test_pixel_records_a_page_view_without_javascript(client, site, redis_client):
    response = client.get(
        "/t/px.gif",
        {"s": site.key, "v": "px-visitor", "u": "https://www.example.co.jp/news", "t": "お知らせ"},
        HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    writer.drain()
    (event,) = stored()
    assert event.url == "https://www.example.co.jp/news" and event.title == "お知らせ"
    assert Visitor.objects.get(anon_id="px-visitor").device_type == "mobile"
    bad = client.get("/t/px.gif", {"s": "unknown"})
    assert bad.status_code == 200  # an image either way; nothing recorded
    assert len(stored()) == 1


@pytest.mark.django_db
def test_preflight_is_answered(client, site):
    response = client.options("/t/collect", HTTP_ORIGIN="https://www.example.co.jp")
    assert response.status_code == 204
    assert "POST" in response["Access-Control-Allow-Methods"]


@pytest.mark.django_db(transaction=True)
def test_stream_entries_are_one_line_of_copy_text_each(site, redis_client):
    # given an event whose texts hold what COPY must escape, and a NUL
    awkward = 'a\tb\nc\r"d",e\\f \\N'
    event = {
        "uid": str(uuid.uuid4()), "type": "page_view", "occurred_at": timezone.now().isoformat(),
        "site_id": site.pk, "anon_id": "v-9", "lead_id": None, "url": "\\N", "title": awkward,
        "referrer": "a\x00b", "properties": {"n": awkward}, "ua": "Mozilla/5.0", "ip": None,
    }  # fmt: skip
    writer.enqueue([event], client=redis_client)
    # then the entry is one line of tab-separated text
    ((_id, fields),) = redis_client.xrange(writer.STREAM)
    assert "\n" not in fields["c"] and fields["c"].count("\t") == len(writer.LINE_COLUMNS) - 1
    # and it is stored exactly as sent, NUL dropped
    assert writer.drain() == 1
    (row,) = stored()
    assert (row.url, row.title, row.referrer) == ("\\N", awkward, "ab")
    assert row.properties == {"n": awkward}


@pytest.mark.django_db(transaction=True)
def test_entries_written_as_json_by_an_earlier_version_are_still_stored(site, redis_client):
    event = {
        "uid": str(uuid.uuid4()), "type": "page_view", "occurred_at": timezone.now().isoformat(),
        "site_id": site.pk, "anon_id": "v-10", "lead_id": None, "url": "https://www.example.co.jp/",
        "title": "", "referrer": "", "properties": {}, "ua": "Mozilla/5.0", "ip": "203.0.113.9",
    }  # fmt: skip
    redis_client.xadd(writer.STREAM, {"e": json.dumps(event, ensure_ascii=False)})
    assert writer.drain() == 1
    assert [str(e.event_uid) for e in stored()] == [event["uid"]]
    assert Visitor.objects.get(anon_id="v-10").ip == "203.0.113.0"


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_entry_is_dropped_and_the_rest_of_its_batch_stored(site, redis_client):
    # given a batch with entries no version of Kizuki wrote, between good ones
    good = [
        {"uid": str(uuid.uuid4()), "type": "page_view", "occurred_at": timezone.now().isoformat(),
         "site_id": site.pk, "anon_id": "v-11", "lead_id": None, "url": f"https://x.jp/{i}",
         "title": "", "referrer": "", "properties": {}, "ua": "Mozilla/5.0", "ip": None}
        for i in range(3)
    ]  # fmt: skip
    writer.enqueue(good[:1], client=redis_client)
    redis_client.xadd(writer.STREAM, {"c": "not\tan\tevent"})
    redis_client.xadd(writer.STREAM, {"e": "{not json"})
    redis_client.xadd(writer.STREAM, {"c": writer._line(good[1]).replace("\t", "\n", 1)})
    writer.enqueue(good[2:], client=redis_client)
    # when the writer drains: every entry is read and acknowledged
    assert writer.drain() == 5
    assert redis_client.xpending(writer.STREAM, writer.GROUP)["pending"] == 0
    # then the readable events are stored
    assert [e.url for e in stored()] == ["https://x.jp/0", "https://x.jp/2"]
    assert Visitor.objects.get(anon_id="v-11").page_view_count == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "message"),
    [
        ("", "送信データが正しいJSONではありません。"),
        ("en-US,en;q=0.9", "The payload is not valid JSON."),
    ],
)
def test_collect_answers_in_the_browsers_language_without_a_session(collect, accept, message):
    # /t/collect skips sessions, auth and CSRF (tracking.fast_path) but still speaks the language
    response = collect("{not json", HTTP_ACCEPT_LANGUAGE=accept)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert response["Content-Language"] == ("en" if accept else "ja")
    assert "Set-Cookie" not in response and "sessionid" not in response.cookies


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["HTTP_DNT", "HTTP_SEC_GPC"])
def test_do_not_track_and_gpc_are_honoured_when_the_site_says_so(
    collect, client, site, redis_client, header
):
    # given a browser that asks not to be tracked
    assert collect({"site": site.key, "visitor": "v-1", **page_view()}, **{header: "1"}).json() == {
        "accepted": 1
    }  # the site does not honour it yet
    site.respect_do_not_track = True
    site.save()
    from tracking import intake

    intake._site_cache.clear()
    # when it sends a page view and loads the pixel
    response = collect({"site": site.key, "visitor": "v-1", **page_view()}, **{header: "1"})
    pixel = client.get(
        "/t/px.gif", {"s": site.key, "v": "v-1", "u": "https://www.example.co.jp/"},
        HTTP_USER_AGENT="Mozilla/5.0 Chrome/120", **{header: "1"},
    )  # fmt: skip
    # then nothing more is recorded, and the page still gets its answers
    assert response.status_code == 202 and response.json()["accepted"] == 0
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"
    assert writer.drain() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lone_surrogate_is_stored_as_a_replacement_character(collect, site, redis_client):
    # given a page whose title JavaScript cut in the middle of a surrogate
    # pair ("\ud83d" is valid JSON but no character)
    response = collect(
        {"site": site.key, "visitor": "v-5",
         "events": [page_view(title="絵文字\ud83d"), page_view(url="https://www.example.co.jp/ok")]}
    )  # fmt: skip
    # then both are accepted and stored, the broken half replaced
    assert response.status_code == 202 and response.json() == {"accepted": 2}
    writer.drain()
    assert sorted(e.title for e in stored()) == ["料金", "絵文字\ufffd"]
