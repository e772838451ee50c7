import pytest

from tracking.models import Site


@pytest.fixture
def site(db) -> Site:
    from tracking import intake

    intake._site_cache.clear()
    return Site.objects.create(
        name="コーポレートサイト", domains=["www.example.co.jp", "example.jp"]
    )


@pytest.fixture
def collect(client, site):
    """POST to /t/collect as a browser on the site's origin."""

    def post(payload: dict | bytes | str, origin: str = "https://www.example.co.jp", **headers):
        import json

        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        return client.generic(
            "POST",
            "/t/collect",
            body,
            content_type="text/plain",
            HTTP_ORIGIN=origin,
            HTTP_USER_AGENT=headers.pop(
                "ua", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"
            ),
            **headers,
        )

    return post
