"""An unexpected error shows a generic page (JSON on the API) with a reference, and its log line
carries where it failed but none of the values: no patient data."""

import logging

import pytest
from django.test import Client

from tests.factories import PrescriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.portal.urls_boom")]
PHI = ("Maya", "Lopez", "1991-04-12", "EXT-77")


def _formatted(caplog) -> str:
    from portal.logfilters import NoValuesFormatter

    formatter = NoValuesFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


@pytest.mark.parametrize("url", ["/boom/", "/api/v1/boom/"])
def test_an_error_shows_a_generic_answer_and_logs_no_patient_data(caplog, url):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get(url)
    assert response.status_code == 500
    body = response.content.decode()
    assert not any(value in body for value in PHI) and "Traceback" not in body
    if url.startswith("/api/"):
        error = response.json()["error"]
        assert error["code"] == "server_error"
        reference = error["message"].rsplit(" ", 1)[1].rstrip(".")
    else:
        assert "Something went wrong on our side" in body
        reference = body.split('data-testid="error-reference">')[1].split("<")[0]
    logged = _formatted(caplog)
    assert "ValueError" in logged and "tests/portal/urls_boom.py" in logged and f"[ref {reference}]" in logged
    assert not any(value in logged for value in PHI)


def test_a_database_error_detail_with_patient_values_is_not_logged(caplog, formulary):
    from orders.models import Patient

    prescriber = PrescriberFactory()
    Patient.objects.create(clinic=prescriber.clinic, external_id="EXT-" + "77", first_name="Maya", last_name="Lopez", date_of_birth="1991-04-12",
                           address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601")
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        assert client.get("/boom-db/").status_code == 500
    logged = _formatted(caplog)
    assert "IntegrityError" in logged and not any(value in logged for value in PHI)
    assert any("EXT-77" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)  # the values were there to leak


def test_the_configured_console_handler_uses_the_withholding_formatter():
    from portal.logfilters import NoValuesFormatter

    handler = logging.getLogger("django").handlers[0]
    assert isinstance(handler.formatter, NoValuesFormatter)
