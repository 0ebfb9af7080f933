"""Inputs the fuzzer found, kept as plain tests: each is a clear 4xx, never a 500."""

import pytest

from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def test_a_nul_in_the_query_string_is_400(api_as, rivera, client, password):
    api = api_as(rivera.user)
    response = api.get("/api/v1/patients/?search=a%00b")
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"
    assert api.get("/api/v1/formulary/ingredients/?search=%00").status_code == 400
    page = sign_in(client, rivera.user, password).get("/patients/?q=%00")
    assert page.status_code == 400 and "NUL" in page.content.decode()


def test_a_malformed_id_in_a_filter_is_404_not_500(api_as, rivera):
    response = api_as(rivera.user).get("/api/v1/orders/?patient=null")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_an_unknown_api_path_answers_json(api_as, rivera):
    response = api_as(rivera.user).get("/api/v1/webhooks/null,null/")
    assert response.status_code == 404 and response.json() == {"error": {"code": "not_found", "message": "No such resource.", "fields": {}}}


def test_every_operation_documents_its_error_answers():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "Error" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"400", "404"} <= set(operation["responses"]), (method, path)
            if method != "get":
                assert {"409", "422"} <= set(operation["responses"]), (method, path)
