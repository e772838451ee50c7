"""Monthly partitions are created ahead and dropped whole at retention."""

import datetime

import pytest
import time_machine
from django.db import connection

from tracking.partitions import (
    drop_expired_partitions,
    ensure_partitions,
    existing_partitions,
    partition_name,
)


def months(*pairs):
    return [datetime.date(y, m, 1) for y, m in pairs]


@pytest.mark.django_db
def test_migrate_creates_the_retention_window_and_three_months_ahead():
    have = existing_partitions()
    today = datetime.date.today().replace(day=1)
    assert today in have
    assert len(have) >= 25 + 3
    assert ensure_partitions() == []  # idempotent


@pytest.mark.django_db
@time_machine.travel(datetime.datetime(2031, 6, 15, tzinfo=datetime.UTC), tick=False)
def test_months_ahead_appear_as_time_passes_and_old_ones_are_dropped():
    created = ensure_partitions()
    assert partition_name(datetime.date(2031, 9, 1)) in created
    assert partition_name(datetime.date(2031, 10, 1)) not in created
    # given an event in the oldest kept month and one just before it
    ensure_partitions(datetime.date(2029, 5, 1), datetime.date(2029, 5, 1))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tracking_event (event_uid, occurred_at, type) VALUES "
            "(gen_random_uuid(), '2029-06-01T00:00:00Z', 'page_view'), "
            "(gen_random_uuid(), '2029-05-31T23:59:59Z', 'page_view')"
        )
    # when retention runs (25 months: June 2029 … June 2031 are kept)
    dropped = drop_expired_partitions()
    # then the older month is gone as a whole table, the kept one stays
    assert partition_name(datetime.date(2029, 5, 1)) in dropped
    assert partition_name(datetime.date(2029, 6, 1)) not in dropped
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_event")
        assert cursor.fetchone() == (1,)
    assert datetime.date(2029, 6, 1) == existing_partitions()[0]
