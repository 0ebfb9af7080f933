"""The OpenAPI schema builds without warnings, and the docs page serves its assets itself."""

import re

import pytest
from django.core.management import call_command


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    for path in ("/api/v1/auth/token/", "/api/v1/orders/validate/", "/api/v1/formulary/ingredients/", "/api/v1/formulary/lots/"):
        assert path in text


@pytest.mark.django_db
def test_docs_page_uses_local_assets_only(client):
    page = client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/static/") or a.startswith("/api/") for a in assets), assets
    assert "cdn" not in page.lower()


def test_the_documented_request_examples_are_accepted(api_as, rivera, ready):
    """The docs' examples (also what schemathesis' examples phase sends) are bodies the portal takes."""
    import uuid

    from portal import api_examples

    api = api_as(rivera.user)
    checked = api.post("/api/v1/orders/validate/", api_examples.ORDER.value, format="json")
    assert checked.status_code == 200 and checked.json()["ok"], checked.json()
    order = api.post("/api/v1/orders/", api_examples.ORDER.value, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert order.status_code == 201, order.json()
    assert api.post("/api/v1/patients/", api_examples.PATIENT.value, format="json").status_code == 201
    cancelled = api.post(f"/api/v1/orders/{order.json()['id']}/cancel/", api_examples.CANCEL.value, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
