"""F12 (issue 17, finding 9): API answers and prescriber pages that carry patient data had no
Cache-Control. Now every dynamic answer (pages, API, downloads, errors; routes added later too) says
`no-store`; static files keep their cache lifetime."""

import pytest

from tests.portal.test_access_matrix import world  # noqa: F401
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def _no_store(response):
    assert "no-store" in response.get("Cache-Control", ""), (response.status_code, response.get("Cache-Control"))


def test_api_answers_and_pages_with_patient_data_say_no_store(world, api_as, client, rivera, password):  # noqa: F811
    kw = world["kwargs"]
    api = api_as(rivera.user)
    for path in (f"/api/v1/patients/{kw['patient_id']}/", "/api/v1/orders/", f"/api/v1/orders/{kw['order_id']}/", "/api/v1/patients/",
                 "/api/v1/events/", "/api/v1/nothing-here/"):
        _no_store(api.get(path))
    _no_store(api.post("/api/v1/orders/validate/", {}, format="json"))  # an error answer too
    page = sign_in(client, rivera.user, password)
    for path in (f"/orders/{kw['order_id']}/", "/orders/", f"/patients/{kw['patient_id']}/", "/patients/", "/prescriber/"):
        response = page.get(path)
        assert response.status_code == 200, path
        _no_store(response)


def test_anonymous_pages_and_errors_say_no_store_too(client):
    for path in ("/accounts/login/", "/no-such-page/", "/api/v1/no-such-route/", "/s/not-a-link/"):
        _no_store(client.get(path))


def test_static_files_keep_their_cache_lifetime(client):
    response = client.get("/static/vendor/htmx/htmx-2.0.11.min.js")
    assert "no-store" not in response.get("Cache-Control", "")
