"""Two people click "assign to me" on the same lead at the same moment: one
owner, and both answers name them (real concurrent transactions)."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from leads.models import Lead
from scoring.hotlists.services import hot_list_materialize


@pytest.mark.django_db(transaction=True)
def test_simultaneous_assignment_ends_with_one_owner_both_see(hot_list, make_lead, inside, inside2):
    make_lead("race@example.jp", last_name="競争", first_name="太郎")
    run = hot_list_materialize(hot_list=hot_list)
    member = run.members.get()
    url = f"/workbench/api/members/{member.pk}/assign/"
    start = threading.Barrier(2)
    answers: dict[str, tuple[int, dict]] = {}

    def click(user) -> None:
        try:
            client = Client()
            client.force_login(user)
            start.wait()
            response = client.post(
                url, json.dumps({"owner": "me", "expected_owner": None}),
                content_type="application/json",
            )  # fmt: skip
            answers[user.username] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(u,)) for u in (inside, inside2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    statuses = sorted(status for status, _body in answers.values())
    assert statuses == [200, 409]
    owner = Lead.objects.get(email="race@example.jp").owner
    assert owner in (inside, inside2)
    for _status, body in answers.values():
        assert body["owner"]["id"] == owner.pk
