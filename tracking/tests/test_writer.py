"""The batch writer: visits, absence, identification, exactly-once storage."""

import datetime
import uuid

import pytest
from django.utils import timezone

from leads.models import Lead
from tracking import writer
from tracking.models import Event, Visit, Visitor
from tracking.services import visitor_identify

T0 = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)


def event(site, at, *, anon="browser-1", type="page_view", url="https://www.example.co.jp/"):
    return {
        "uid": str(uuid.uuid4()),
        "type": type,
        "occurred_at": at.isoformat(),
        "site_id": site.pk,
        "anon_id": anon,
        "lead_id": None,
        "url": url,
        "title": "",
        "referrer": "https://www.google.com/",
        "properties": {"utm_source": "google", "utm_medium": "cpc"},
        "ua": "Mozilla/5.0 (Windows NT 10.0) Chrome/120",
        "ip": "203.0.113.77",
    }


def drain_after_the_claim_timeout(monkeypatch) -> None:
    """The writer's failure undone, a live writer claims and stores what is left."""
    monkeypatch.undo()
    monkeypatch.setattr(writer, "CLAIM_IDLE_MS", 0)
    while writer.drain(consumer="live-writer"):
        pass


def fail_on_store(monkeypatch, failing: int) -> None:
    """The writer's ``failing``-th store (1 = the first) raises; the others store."""
    stores = []
    real_store = writer._store_batch

    def failing_store(lines, **options):
        stores.append(len(lines))
        if len(stores) == failing:
            raise RuntimeError("PostgreSQL went away")
        return real_store(lines, **options)

    monkeypatch.setattr(writer, "_store_batch", failing_store)


@pytest.mark.django_db
def test_visits_split_at_thirty_minutes_of_inactivity(site):
    gap = datetime.timedelta(minutes=30)
    second = datetime.timedelta(seconds=1)
    writer.write_batch(
        [
            event(site, T0),
            event(site, T0 + gap - second),  # 29:59 later: same visit
            event(site, T0 + 2 * gap - 2 * second),  # 29:59 later again: same visit
        ]
    )
    writer.write_batch([event(site, T0 + 3 * gap - 2 * second)])  # 30:00 later: a new visit
    visitor = Visitor.objects.get()
    visits = list(Visit.objects.order_by("started_at"))
    assert [v.page_views for v in visits] == [3, 1]
    assert visitor.visit_count == 2 and visitor.page_view_count == 4
    assert visitor.ip == "203.0.113.0"  # truncated by default
    assert visitor.first_touch == {
        "utm_source": "google",
        "utm_medium": "cpc",
        "referrer": "https://www.google.com/",
    }
    assert len(set(Event.objects.values_list("visit_id", flat=True))) == 2


@pytest.mark.django_db
def test_a_redelivered_batch_is_stored_once(site):
    batch = [event(site, T0), event(site, T0 + datetime.timedelta(minutes=1))]
    assert writer.write_batch([dict(e) for e in batch]) == 2
    assert writer.write_batch([dict(e) for e in batch]) == 0
    assert Event.objects.count() == 2
    # and the visit and the visitor count those page views once
    visit, visitor = Visit.objects.get(), Visitor.objects.get()
    assert (visit.page_views, visitor.visit_count, visitor.page_view_count) == (2, 1, 2)


@pytest.mark.django_db
def test_an_event_sent_again_beside_new_ones_is_counted_once(site):
    # given a stored page view
    first = event(site, T0)
    writer.write_batch([dict(first)])
    # when a browser sends it again in a batch with a new one, and one twice
    again = event(site, T0 + datetime.timedelta(minutes=2))
    assert writer.write_batch([dict(first), dict(again), dict(again)]) == 1
    # then each is stored and counted once
    visit, visitor = Visit.objects.get(), Visitor.objects.get()
    assert Event.objects.count() == 2
    assert (visit.page_views, visitor.visit_count, visitor.page_view_count) == (2, 1, 2)


@pytest.mark.django_db
def test_awkward_text_is_stored_as_sent_and_nul_is_dropped(site):
    # given text that COPY must quote, a literal \N, and NUL characters (valid JSON)
    awkward = 'a\tb\nc\r"d",e\\f'
    first = event(site, T0, url="\\N")
    first.update(title=awkward, referrer="ref\x00erer")
    first["properties"] = {"q": "x\x00y", "n": awkward, "\\u0000": ["\x00"]}
    twice = event(site, T0 + datetime.timedelta(minutes=1))
    # when the batch also carries one event twice
    assert writer.write_batch([first, twice, dict(twice)]) == 2
    # then every text is stored exactly, NUL dropped, the duplicate once
    stored = Event.objects.get(event_uid=first["uid"])
    assert (stored.url, stored.title, stored.referrer) == ("\\N", awkward, "referer")
    assert stored.properties == {"q": "xy", "n": awkward, "\\u0000": [""]}
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_identification_gives_the_lead_its_anonymous_history(site):
    writer.write_batch([event(site, T0), event(site, T0 + datetime.timedelta(minutes=5))])
    lead = Lead.objects.create(email="hanako@example.co.jp")
    visitor = Visitor.objects.get()
    identification = visitor_identify(visitor=visitor, lead=lead, method="form")
    assert identification.events_attributed == 2
    assert set(Event.objects.values_list("lead_id", flat=True)) == {lead.pk}
    assert Visit.objects.get().lead == lead
    lead.refresh_from_db()
    assert lead.first_touch_source == "google / cpc"
    # later events of this browser are the lead's at once
    writer.write_batch([event(site, T0 + datetime.timedelta(days=1))])
    assert Event.objects.filter(lead_id=lead.pk).count() == 3


@pytest.mark.django_db
def test_two_known_leads_on_one_browser_are_not_merged(site):
    writer.write_batch([event(site, T0)])
    a = Lead.objects.create(email="a@example.co.jp")
    b = Lead.objects.create(email="b@example.co.jp")
    visitor = Visitor.objects.get()
    visitor_identify(visitor=visitor, lead=a, method="form")
    writer.write_batch([event(site, T0 + datetime.timedelta(hours=2))])
    # the same browser now identifies as someone else
    visitor_identify(visitor=visitor, lead=b, method="form")
    writer.write_batch([event(site, T0 + datetime.timedelta(hours=4))])
    assert Event.objects.filter(lead_id=a.pk).count() == 2
    assert Event.objects.filter(lead_id=b.pk).count() == 1
    assert Lead.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("days", "returned"), [(59, False), (60, True)])
def test_returned_after_absence_at_sixty_days(site, days, returned):
    lead = Lead.objects.create(email="long@example.co.jp")
    writer.write_batch([event(site, T0)])
    visitor_identify(visitor=Visitor.objects.get(), lead=lead, method="form")
    later = T0 + datetime.timedelta(days=days)
    writer.write_batch([event(site, later)])
    absence = Event.objects.filter(type="returned_after_absence")
    assert absence.exists() is returned
    if returned:
        assert absence.get().properties == {"gap_days": 60}
        assert absence.get().lead_id == lead.pk


@pytest.mark.django_db(transaction=True)
def test_a_batch_left_by_a_killed_writer_is_claimed_and_stored_once(
    site, redis_client, monkeypatch
):
    # given a writer that read a batch and died before acknowledging it
    writer.enqueue([event(site, timezone.now())])
    writer.ensure_group(writer.redis_client())
    client = writer.redis_client()
    client.xreadgroup(writer.GROUP, "dead-writer", {writer.STREAM: ">"}, count=10)
    assert Event.objects.count() == 0
    # when another writer drains after the claim timeout
    monkeypatch.setattr(writer, "CLAIM_IDLE_MS", 0)
    assert writer.drain(consumer="live-writer") == 1
    # then the event is stored once and nothing is pending
    assert Event.objects.count() == 1
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 0
    assert writer.drain(consumer="live-writer") == 0


@pytest.mark.django_db(transaction=True)
def test_a_writer_that_fails_mid_drain_loses_neither_its_batch_nor_the_one_it_read_ahead(
    site, redis_client, monkeypatch
):
    # given three batches waiting, and a writer whose second store fails
    # while it has already read the third batch ahead
    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    now = timezone.now()
    writer.enqueue([event(site, now + datetime.timedelta(seconds=i)) for i in range(6)])
    real_store = writer._store_batch
    fail_on_store(monkeypatch, 2)
    with pytest.raises(RuntimeError):
        writer.drain(consumer="failing-writer")
    # then the first batch is stored and acknowledged, the other two wait
    client = writer.redis_client()
    assert Event.objects.count() == 2
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 4
    # when another writer drains after the claim timeout (claims take a batch
    # each), every event is stored once and nothing is left
    monkeypatch.setattr(writer, "_store_batch", real_store)
    monkeypatch.setattr(writer, "CLAIM_IDLE_MS", 0)
    assert writer.drain(consumer="live-writer") == 2
    assert writer.drain(consumer="live-writer") == 2
    assert Event.objects.count() == 6
    assert len(set(Event.objects.values_list("event_uid", flat=True))) == 6
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 0
    assert client.xlen(writer.STREAM) == 0


@pytest.mark.django_db
def test_one_batch_splits_each_browsers_visits_in_time_order(site):
    minute = datetime.timedelta(minutes=1)
    phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) Mobile/15E148"
    # given two browsers' events interleaved and out of order in one batch
    batch = [
        event(site, T0 + 45 * minute, url="https://x.jp/a2"),
        event(site, T0, anon="b", url="https://x.jp/b1"),
        event(site, T0, url="https://x.jp/a1"),
        event(site, T0 + 10 * minute, anon="b", url="https://x.jp/b2", type="download"),
        event(site, T0 + 50 * minute, url="https://x.jp/a3"),
    ]
    batch[1]["ua"] = batch[3]["ua"] = phone
    assert writer.write_batch(batch) == 5
    # then browser a has two visits (45 minutes apart), b one of two events
    a, b = Visitor.objects.get(anon_id="browser-1"), Visitor.objects.get(anon_id="b")
    visits = [
        (v.visitor_id, v.landing_url, v.page_views, v.last_event_at - T0, v.device_type)
        for v in Visit.objects.order_by("-visitor__anon_id", "started_at")
    ]
    assert visits == [
        (a.pk, "https://x.jp/a1", 1, datetime.timedelta(0), "desktop"),
        (a.pk, "https://x.jp/a2", 2, 50 * minute, "desktop"),
        (b.pk, "https://x.jp/b1", 1, 10 * minute, "mobile"),
    ]
    assert (a.visit_count, a.page_view_count, a.last_seen_at, a.first_seen_at) == (
        2, 3, T0 + 50 * minute, T0,
    )  # fmt: skip
    assert (b.visit_count, b.page_view_count, b.device_type) == (1, 1, "mobile")
    by_url = {e.url: e.visit_id for e in Event.objects.all()}
    assert by_url["https://x.jp/a2"] == by_url["https://x.jp/a3"] != by_url["https://x.jp/a1"]
    # and a later batch extends b's open visit
    writer.write_batch([event(site, T0 + 20 * minute, anon="b", url="https://x.jp/b3")])
    b.refresh_from_db()
    assert (b.visit_count, b.page_view_count) == (1, 2)
    assert Visit.objects.get(visitor=b).last_event_at == T0 + 20 * minute
    assert Event.objects.get(url="https://x.jp/b3").visit_id == by_url["https://x.jp/b1"]


@pytest.mark.django_db(transaction=True)
def test_a_browser_another_writer_created_meanwhile_is_added_to(site, monkeypatch):
    import psycopg2
    from django.db import connection

    # given another writer commits the browser's visitor between our look-up and insert
    real = writer._insert_visitors

    def racing(cursor, found):
        if not Visitor.objects.filter(anon_id="browser-1").exists():
            other = psycopg2.connect(**connection.get_connection_params())
            with other, other.cursor() as theirs:
                theirs.execute(
                    "INSERT INTO tracking_visitor (site_id, anon_id, first_seen_at, last_seen_at,"
                    " visit_count, page_view_count, device_type, first_touch)"
                    " VALUES (%s, 'browser-1', %s, %s, 1, 1, 'desktop', '{}')",
                    [site.pk, T0 - datetime.timedelta(days=1), T0 - datetime.timedelta(days=1)],
                )
            other.close()
        real(cursor, found)

    monkeypatch.setattr(writer, "_insert_visitors", racing)
    writer.write_batch([event(site, T0), event(site, T0 + datetime.timedelta(minutes=1))])
    # then the batch is counted on top of that visitor, which stays the only one
    visitor = Visitor.objects.get()
    assert (visitor.visit_count, visitor.page_view_count, visitor.last_seen_at) == (
        2, 3, T0 + datetime.timedelta(minutes=1),
    )  # fmt: skip
    assert set(Event.objects.values_list("visitor_id", flat=True)) == {visitor.pk}
    assert Visit.objects.get().visitor_id == visitor.pk


@pytest.mark.django_db
def test_two_batches_in_one_transaction_are_stored_apart(site):
    from django.db import transaction

    with transaction.atomic():
        assert writer.write_batch([event(site, T0)]) == 1
        assert writer.write_batch([event(site, T0 + datetime.timedelta(hours=1))]) == 1
    assert Event.objects.count() == 2 and Visit.objects.count() == 2
    assert Visitor.objects.get().visit_count == 2


@pytest.mark.django_db
def test_server_events_without_a_browser_are_stored_for_their_lead(site):
    lead = Lead.objects.create(email="mail@example.co.jp")
    mail_open = event(site, T0, type="email_open")
    mail_open.update(site_id=None, anon_id=None, lead_id=lead.pk, ua="", ip=None)
    assert writer.write_batch([mail_open]) == 1
    stored = Event.objects.get()
    assert (stored.lead_id, stored.visitor_id, stored.visit_id) == (lead.pk, None, None)
    assert not Visitor.objects.exists() and not Visit.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_only_the_batch_that_ends_a_drain_waits_for_the_disk(site, redis_client, monkeypatch):
    # given three batches waiting
    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    now = timezone.now()
    writer.enqueue([event(site, now + datetime.timedelta(seconds=i)) for i in range(6)])
    decisions = []
    real_store = writer._store_batch

    def recording_store(lines, durable, **options):
        def asked():
            decisions.append(durable())
            return decisions[-1]

        return real_store(lines, durable=asked, **options)

    monkeypatch.setattr(writer, "_store_batch", recording_store)
    # when one drain stores them
    assert writer.drain(consumer="async-writer") == 6
    # then the first two commit without waiting for the WAL flush, the last
    # one waits (and so flushes the others), and all are acknowledged
    assert decisions == [False, False, True]
    assert Event.objects.count() == 6
    assert writer.redis_client().xpending(writer.STREAM, writer.GROUP)["pending"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_acknowledged_only_once_its_commit_is_flushed_to_disk(
    site, redis_client, monkeypatch
):
    # given three batches, a PostgreSQL whose WAL writer never flushes, and a
    # writer whose third store fails
    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    monkeypatch.setattr(writer, "FLUSH_WAIT", 0)
    now = timezone.now()
    writer.enqueue([event(site, now + datetime.timedelta(seconds=i)) for i in range(6)])
    monkeypatch.setattr(writer, "_wal_positions", lambda: (1, 0))
    fail_on_store(monkeypatch, 3)
    with pytest.raises(RuntimeError):
        writer.drain(consumer="async-writer")
    # then two batches are committed but, not being on disk, neither is
    # acknowledged
    client = writer.redis_client()
    assert Event.objects.count() == 4
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 6
    # when the next writer claims them (after a crash their rows may or may
    # not be there), each event is stored once and nothing is left pending
    drain_after_the_claim_timeout(monkeypatch)
    assert sorted(Event.objects.values_list("occurred_at", flat=True)) == [
        now + datetime.timedelta(seconds=i) for i in range(6)
    ]
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 0


def test_deleting_a_site_deletes_its_visitors_and_visits(site):
    # given a site with two browsers' visits (the database holds no constraint
    # from a visitor to its site, nor from a visit to its visitor)
    other = type(site).objects.create(name="採用サイト", domains=["recruit.example.jp"])
    writer.write_batch([event(site, T0), event(site, T0, anon="browser-2"), event(other, T0)])
    assert Visitor.objects.filter(site=site).count() == 2
    assert Visit.objects.filter(visitor__site=site).count() == 2
    # when the site is deleted
    site.delete()
    # then its visitors and their visits are gone, the other site's are kept
    assert list(Visitor.objects.values_list("site_id", flat=True)) == [other.pk]
    assert list(Visit.objects.values_list("visitor__site_id", flat=True)) == [other.pk]


@pytest.mark.django_db(transaction=True)
def test_a_drain_that_finds_another_running_returns_at_once_and_reads_nothing(site, redis_client):
    import psycopg2
    from django.db import connection

    # given events waiting and another drain holding the writer's lock
    writer.enqueue([event(site, timezone.now(), anon=f"b{i}") for i in range(3)])
    writer.ensure_group(writer.redis_client())
    params = connection.get_connection_params()
    other = psycopg2.connect(**params)
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [writer.WRITER_LOCK])
    try:
        # when a second drain starts, it reads nothing and stores nothing
        assert writer.drain(consumer="second-writer") == 0
        client = writer.redis_client()
        assert client.xlen(writer.STREAM) == 3
        assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 0
        assert Event.objects.count() == 0
    finally:
        other.close()  # the first drain ends (its connection releases the lock)
    # then the next drain stores everything
    assert writer.drain(consumer="second-writer") == 3
    assert Event.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_store_every_event_once_without_deadlock(
    site, redis_client, monkeypatch
):
    import threading

    from django.db import connection

    # given 12 pairs of batches: both batches of a pair hold views of the same
    # 20 browsers, new to the site, a minute apart and in opposite orders (so
    # two drains storing a pair side by side would insert the same new
    # visitors in opposite orders)
    monkeypatch.setattr(writer, "BATCH_SIZE", 20)
    start = timezone.now() - datetime.timedelta(hours=1)
    for pair in range(12):
        browsers = [f"p{pair}-b{n}" for n in range(20)]
        for minute, order in ((0, browsers), (1, browsers[::-1])):
            at = start + datetime.timedelta(minutes=2 * pair + minute)
            writer.enqueue([event(site, at, anon=anon) for anon in order])
    stored, errors = [], []

    def drain_until_empty(name):
        try:
            while True:
                read = writer.drain(max_batches=1, consumer=name)
                stored.append(read)
                if not read and not writer.redis_client().xlen(writer.STREAM):
                    return
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when two drains run side by side until the stream is empty
    threads = [threading.Thread(target=drain_until_empty, args=(n,)) for n in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then no drain failed, every event is stored once, one visit per browser
    assert errors == []
    assert sum(stored) == 480
    assert Event.objects.count() == 480
    assert Visitor.objects.count() == 240
    assert sorted(Visit.objects.values_list("page_views", flat=True)) == [2] * 240
    assert set(Visitor.objects.values_list("visit_count", "page_view_count")) == {(1, 2)}


@pytest.mark.django_db(transaction=True)
def test_a_batch_copied_in_while_the_one_before_is_stored_sees_its_visits(
    site, redis_client, monkeypatch
):
    import threading

    from django.db import connection

    # given one browser's six page views a minute apart, in three batches
    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    writer.enqueue([event(site, T0 + datetime.timedelta(minutes=i)) for i in range(6)])
    # and a first batch whose store waits until the second is copied in
    copied, sessions, seen = threading.Event(), set(), []
    real_copy, real_stage, real_store = writer._copy_in, writer._stage, writer._store

    def copy_in(cursor, lines):
        real_copy(cursor, lines)
        sessions.add(connection.connection.info.backend_pid)
        copied.set()

    def stage(cursor, facts):
        seen.append(Event.objects.count())  # what the batches before committed
        return real_stage(cursor, facts)

    def store(cursor, found):
        copied.wait(timeout=10)
        return real_store(cursor, found)

    monkeypatch.setattr(writer, "_copy_in", copy_in)
    monkeypatch.setattr(writer, "_stage", stage)
    monkeypatch.setattr(writer, "_store", store)
    # when one drain stores them
    assert writer.drain(consumer="pipelined-writer") == 6
    # then the batches went through two connections of their own, each split
    # once the one before it had committed, and extended the visit it stored
    assert len(sessions) == 2
    assert seen == [0, 2, 4]
    assert connection.connection.info.backend_pid not in sessions
    visitor = Visitor.objects.get()
    assert (visitor.visit_count, visitor.page_view_count) == (1, 6)
    visit = Visit.objects.get()
    assert (visit.page_views, visit.last_event_at) == (6, T0 + datetime.timedelta(minutes=5))
    assert set(Event.objects.values_list("visit_id", flat=True)) == {visit.pk}


@pytest.mark.django_db(transaction=True)
def test_a_batch_copied_in_behind_a_failed_one_is_not_stored(site, redis_client, monkeypatch):
    import threading

    # given three batches, and a second store that fails once the third
    # batch is copied in on the other connection
    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    writer.enqueue([event(site, T0 + datetime.timedelta(minutes=i)) for i in range(6)])
    copies, stores = [], []
    third_copied = threading.Event()
    real_copy, real_store = writer._copy_in, writer._store

    def copy_in(cursor, lines):
        real_copy(cursor, lines)
        copies.append(len(lines))
        if len(copies) == 3:
            third_copied.set()

    def store(cursor, found):
        stores.append(found)
        if len(stores) == 2:
            third_copied.wait(timeout=10)
            raise RuntimeError("PostgreSQL went away")
        return real_store(cursor, found)

    monkeypatch.setattr(writer, "_copy_in", copy_in)
    monkeypatch.setattr(writer, "_store", store)
    with pytest.raises(RuntimeError):
        writer.drain(consumer="failing-writer")
    # then only the first batch is stored and acknowledged: the third, copied
    # in meanwhile, rolled back and waits with the second
    assert len(copies) == 3
    client = writer.redis_client()
    assert Event.objects.count() == 2
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 4
    # and the next writer stores them once, in the same visit
    drain_after_the_claim_timeout(monkeypatch)
    assert Event.objects.count() == 6
    assert Visit.objects.get().page_views == 6
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 0


@pytest.mark.django_db
def test_a_batch_beyond_the_months_made_ahead_makes_the_months_it_spans(site):
    from tracking.partitions import existing_partitions

    # given a batch of events five and seven months ahead (partitions are made
    # three months ahead), the later one a second before a month ends in UTC
    today = datetime.date.today().replace(day=1)
    ahead = [(today + datetime.timedelta(days=31 * n)).replace(day=1) for n in range(9)]
    first = datetime.datetime.combine(ahead[5], datetime.time(12), datetime.UTC)
    last = datetime.datetime.combine(ahead[8], datetime.time(0), datetime.UTC)
    last -= datetime.timedelta(seconds=1)
    assert ahead[5] not in existing_partitions()
    # when it is stored
    assert writer.write_batch([event(site, first), event(site, last, anon="b")]) == 2
    # then both are stored, in the months' partitions, and no month after
    assert Event.objects.count() == 2
    have = existing_partitions()
    assert {ahead[5], ahead[6], ahead[7]} <= set(have)
    assert ahead[8] not in have


@pytest.mark.django_db(transaction=True)
def test_a_drain_whose_lanes_cannot_connect_stores_on_its_own_connection(
    site, redis_client, monkeypatch, caplog
):
    import threading

    from django.db import OperationalError
    from django.db.backends.postgresql.base import DatabaseWrapper

    # given three batches waiting, and a server that refuses the drain's
    # extra connections (as at max_connections)
    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    writer.enqueue([event(site, T0 + datetime.timedelta(minutes=i)) for i in range(6)])
    real_connect = DatabaseWrapper.ensure_connection

    def refusing(self):
        if threading.current_thread().name.startswith("kizuki-lane"):
            raise OperationalError("FATAL: sorry, too many clients already")
        return real_connect(self)

    monkeypatch.setattr(DatabaseWrapper, "ensure_connection", refusing)
    # when a drain runs, it stores them one after the other on its own connection
    assert writer.drain(consumer="crowded-writer") == 6
    assert "a lane did not connect" in caplog.text
    visitor = Visitor.objects.get()
    assert (visitor.visit_count, visitor.page_view_count) == (1, 6)
    assert writer.redis_client().xpending(writer.STREAM, writer.GROUP)["pending"] == 0
