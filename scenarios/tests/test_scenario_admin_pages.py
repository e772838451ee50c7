"""The scenario admin pages a marketer opens after loaddemo all render: the
list, each scenario with its diagram, stats and dry-run link, the runs and
actions lists, and a template's and a newsletter's stats."""

import pytest
from django.core.management import call_command

from scenarios.models import EmailTemplate, Scenario


@pytest.mark.django_db
def test_scenario_admin_pages_render(admin_client):
    call_command("loaddemo")
    listing = admin_client.get("/admin/scenarios/scenario/").content.decode()
    assert "資料Aダウンロード後" in listing and "ドライラン（14日間）" in listing
    for scenario in Scenario.objects.all():
        page = admin_client.get(f"/admin/scenarios/scenario/{scenario.pk}/change/")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'class="scenario-graph"' in html and "クリック率" in html
        assert (
            admin_client.get(f"/admin/scenarios/scenario/{scenario.pk}/dry-run/").status_code == 200
        )
    for url in ("/admin/scenarios/scenarioenrollment/", "/admin/scenarios/scenarioaction/"):
        assert admin_client.get(url).status_code == 200
    template = EmailTemplate.objects.get(name="資料A: 導入事例")
    page = admin_client.get(f"/admin/scenarios/emailtemplate/{template.pk}/change/")
    assert page.status_code == 200 and "配信成功" in page.content.decode()
