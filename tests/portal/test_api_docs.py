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
