"""F2 (issue 17, finding 2): about 4 KB of nested JSON answered 500 on every JSON endpoint, and before
any authentication on the token exchange and the carrier webhook (whose body was parsed before its
signature was checked). Now: 400 with the error envelope, before authentication or signature work,
with one log line that carries no payload."""

import json
import logging
from unittest import mock

import pytest

from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
NESTED = "[" * 2000 + "]" * 2000  # the probe's body: about 4 KB, past Python's recursion limit


def _refused(response):
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "parse_error"
    assert "nests deeper than 32 levels" in response.json()["error"]["message"]


def test_anonymous_endpoints_refuse_nested_json_before_authentication_or_signature(client, caplog):
    with mock.patch("django.contrib.auth.authenticate") as authenticate, \
            mock.patch("fulfillment.tracking.webhook_signature") as signature, caplog.at_level(logging.WARNING):
        _refused(client.post("/api/v1/auth/token/", NESTED, content_type="application/json"))
        _refused(client.post("/api/v1/carriers/simulated/webhook/", NESTED, content_type="application/json",
                             HTTP_X_CARRIER_SIGNATURE="0" * 64))
    assert not authenticate.called and not signature.called
    lines = [r.getMessage() for r in caplog.records if r.name in ("portal.middleware", "django.request")]
    assert len(lines) == 2 and all("nested deeper" in line and "[[" not in line for line in lines)  # one line each, no payload


def test_signed_in_endpoints_refuse_it_before_the_token_is_looked_up(api_as, rivera):
    api = api_as(rivera.user)
    with mock.patch("portal.authentication.HashedTokenAuthentication.authenticate") as authenticate:
        for path in ("/api/v1/orders/validate/", "/api/v1/orders/", "/api/v1/patients/", "/api/v1/webhooks/"):
            _refused(api.post(path, NESTED, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"))
        # any +json type (FHIR's application/fhir+json among them), on any path
        _refused(api.post("/api/v1/orders/validate/", NESTED, content_type="application/fhir+json"))
    assert not authenticate.called


def test_the_limit_is_a_depth_not_a_size(api_as, rivera):
    """33 levels is refused; 32 reaches the view and gets its ordinary answer (a validation error)."""
    api = api_as(rivera.user)
    _refused(api.post("/api/v1/orders/validate/", "[" * 33 + "]" * 33, content_type="application/json"))
    ordinary = api.post("/api/v1/orders/validate/", "[" * 32 + "]" * 32, content_type="application/json")
    assert ordinary.status_code == 400 and ordinary.json()["error"]["code"] != "parse_error"
    # brackets inside strings are text, not nesting
    text = api.post("/api/v1/orders/validate/", json.dumps({"external_id": "[" * 500}), content_type="application/json")
    assert text.json()["error"]["code"] == "validation_error"


def test_a_page_posted_as_json_gets_the_400_page(client, rivera, password):
    page = sign_in(client, rivera.user, password).post("/patients/new/", NESTED, content_type="application/json")
    assert page.status_code == 400 and "nests deeper than 32 levels" in page.content.decode()


def test_the_carrier_webhook_checks_the_signature_on_the_raw_body_before_parsing(client, settings):
    """An unsigned body is never parsed: invalid JSON with a wrong signature is 401 (not a parse error),
    and invalid JSON correctly signed is a 400 envelope."""
    import hashlib
    import hmac

    with mock.patch("json.loads") as loads:
        refused = client.post("/api/v1/carriers/simulated/webhook/", b"{not json", content_type="application/json",
                              HTTP_X_CARRIER_SIGNATURE="0" * 64)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "bad_signature"
    assert not loads.called
    body = b"{not json"
    signed = hmac.new(settings.CARRIER_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    bad = client.post("/api/v1/carriers/simulated/webhook/", body, content_type="application/json", HTTP_X_CARRIER_SIGNATURE=signed)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parse_error"
