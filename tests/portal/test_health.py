"""/healthz reports the database, the broker and the workers."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthy(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["status"] == "ok"
    assert body["broker"]["status"] in ("ok", "not configured")
    assert response["Cache-Control"].startswith("max-age=0")


@override_settings(BROKER_CONFIGURED=False)
def test_embedded_broker_is_reported_as_not_configured(client):
    assert client.get("/healthz").json()["broker"]["status"] == "not configured"


@override_settings(BROKER_CONFIGURED=True, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_configured_broker_down_answers_503(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["status"] == "down"
    assert response.json()["status"] == "degraded"


def test_database_down_answers_503(client, monkeypatch):
    from portal import health

    def broken():
        return {"status": "down", "error": "OperationalError"}

    monkeypatch.setattr(health, "_database_state", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["status"] == "unknown"
