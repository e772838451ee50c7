import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leads.tests.factories import UserFactory


def api_client_for(role: str, username: str) -> APIClient:
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=role))
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def marketer_api(db) -> APIClient:
    return api_client_for("Marketer", "api-marketer")


@pytest.fixture
def sales_api(db) -> APIClient:
    return api_client_for("Sales rep", "api-sales")


@pytest.fixture
def inside_api(db) -> APIClient:
    return api_client_for("Inside sales", "api-inside")
