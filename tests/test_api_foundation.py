"""The API's front door: token auth, the error shape, the schema."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.fixture
def token(db) -> str:
    user = get_user_model().objects.create_user("api-user", password="a-long-password-1")
    from io import StringIO

    out = StringIO()
    call_command("drf_create_token", "api-user", stdout=out)
    key = out.getvalue().split()[2]
    assert user.auth_token.key == key
    return key


@pytest.mark.django_db
def test_without_a_token_the_answer_is_401_in_the_error_shape(client):
    response = client.get("/api/v1/")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert error["message"]
    assert error["fields"] == {}


@pytest.mark.django_db
def test_a_wrong_token_is_401(client):
    response = client.get("/api/v1/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_with_a_token_the_root_answers(client, token):
    response = client.get("/api/v1/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert response.json()["schema"].endswith("/api/schema/")


def test_an_unknown_api_address_is_a_json_404(client, token):
    response = client.get("/api/v1/no-such-thing/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_openapi_schema_is_served(client, token):
    response = client.get("/api/schema/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert b"openapi" in response.content
    assert b"Kizuki API" in response.content


def test_validation_errors_have_fields_and_a_message():
    from rest_framework import serializers

    from ma_core.api_errors import exception_handler

    class LeadInput(serializers.Serializer):
        email = serializers.EmailField()

    serializer = LeadInput(data={"email": "not-an-email"})
    assert not serializer.is_valid()
    response = exception_handler(serializers.ValidationError(serializer.errors), {})
    assert response.status_code == 400
    error = response.data["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["email"]
    assert error["message"]
