from types import SimpleNamespace

import pytest

from leads.models import Lead
from sfa_sync import demo
from sfa_sync.models import Deal


@pytest.mark.django_db
def test_the_demo_opens_deals_for_leads_in_consideration_and_is_safe_to_load_again():
    for i in range(3):
        Lead.objects.create(email=f"demo{i}@example.co.jp", stage="consideration")
    Lead.objects.create(email="new@example.co.jp", stage="awareness")
    demo.load(SimpleNamespace(stdout=None))
    demo.load(SimpleNamespace(stdout=None))
    assert Deal.objects.count() == 3
    assert not Deal.objects.filter(amount__isnull=True).exists()
    assert not Deal.objects.filter(lead__email="new@example.co.jp").exists()
