"""The patient's routes never show Django's debug pages (which list every route) or the staff pages,
even with DEBUG on as `make run` has it; the simulated carrier links nowhere."""

import pytest
from django.test import Client


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


@pytest.mark.parametrize("path", ["/track/simulated/SIM-123456", "/track/", "/s/not-a-token/", "/s/"])
def test_a_missing_patient_page_is_the_plain_not_found_even_in_debug(db, debug, path):
    response = Client().get(path)
    body = response.content.decode()
    assert response.status_code == 404
    assert "This link was not found or has expired" in body
    assert "URLconf" not in body and "urlpatterns" not in body and "Traceback" not in body
    assert "no-store" in response["Cache-Control"] and response["X-Robots-Tag"] == "noindex, nofollow"
    # The page names its icon as the staff pages do: without it the browser asks for /favicon.ico, a 404 in the
    # console of every patient who opens the link (walk-through wk #11).
    assert '<link rel="icon" href="/static/favicon.svg"' in body


def test_a_crash_on_the_patient_page_is_the_plain_error_page_even_in_debug(db, debug, monkeypatch, caplog):
    def boom(token):
        raise RuntimeError("secret patient detail")

    monkeypatch.setattr("portal.patient_status.patient_link_resolve", boom)
    response = Client(raise_request_exception=False).get("/s/abcdefghijklmnop/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body and "secret patient detail" not in body and "Traceback" not in body


def test_the_simulated_carrier_has_no_tracking_link():
    from fulfillment.carriers import CARRIERS

    assert CARRIERS["simulated"].tracking_url("SIM-123456") == ""
