"""A worker killed between claiming a batch and hearing kintone's answer:
the batch is sent again after the lease, and the upsert by updateKey leaves
exactly one record per lead."""

import pytest
from django.utils import timezone

from sfa_sync.models import OutboxItem
from sfa_sync.outbox import CLAIM_LEASE, outbox_dispatch, stale_release
from sfa_sync.services import handoff_request
from sfa_sync.tasks import dispatch_outbox

from .conftest import make_leads, wait_until


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_between_claim_and_send_still_results_in_exactly_one_record(
    celery_worker_process, kintone, connector
):
    # given kintone applies the next write but holds its answer, and a sync worker
    kintone.hang_next_put = True
    worker = celery_worker_process("sync")
    lead = make_leads(1)[0]

    # when the lead is handed over, the worker claims it, kintone writes the record,
    # and the worker is killed before the answer arrives
    handoff_request(lead_id=lead.pk, reason="manual")
    wait_until(kintone.hanging.is_set)
    item = OutboxItem.objects.get()
    assert (item.state, item.attempts) == ("sending", 1)
    worker.kill()
    kintone.release()
    assert len(kintone.records) == 1

    # then nobody sends it again while the claim stands
    celery_worker_process("sync")
    assert outbox_dispatch() == {}
    assert kintone.puts == [1]

    # when the lease is over the row is handed back and a worker sends it
    assert stale_release(now=timezone.now() + CLAIM_LEASE) == 1
    dispatch_outbox.delay()
    wait_until(lambda: OutboxItem.objects.get(pk=item.pk).state == "sent")

    # then kintone holds one record for the lead, updated by the second try
    assert kintone.puts == [1, 1]
    assert list(kintone.records) == [str(lead.pk)]
    assert kintone.records[str(lead.pk)]["$revision"]["value"] == "2"
    item.refresh_from_db()
    assert item.attempts == 2
    # and nothing more goes out however often the dispatcher runs
    assert outbox_dispatch() == {}
    assert stale_release(now=timezone.now() + CLAIM_LEASE) == 0
    assert kintone.puts == [1, 1]
