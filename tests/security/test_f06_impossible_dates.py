"""F6 (issue 17, finding 5) and I3: `compounding_date: 9999-12-31` answered 500 from the rules engine
(its dating overflowed); a date of birth of 0001-01-01 passed validation. Every date in a body is now
checked against a sane window (compounding: today to a year ahead; birth: 1900 to today), with a
field error, and the rules engine never sees an impossible date."""

import copy
import datetime as dt
import uuid

import pytest
from django.utils import timezone

from orders.models import Order
from portal.errors import ServiceError

pytestmark = pytest.mark.django_db
BODY = {"patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
        "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
        "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g",
                          "ingredients": [{"ingredient": "niacinamide", "percent": 4}]}]}


def _with(**changes):
    body = copy.deepcopy(BODY)
    for path, value in changes.items():
        where, key = path.split(".")
        (body["patient"] if where == "patient" else body["preparations"][0])[key] = value
    return body


def test_a_compounding_date_beyond_a_year_is_a_field_error_and_nothing_is_saved(api_as, rivera, ready):
    api = api_as(rivera.user)
    orders = Order.objects.count()
    for day in ("9999-12-31", (timezone.localdate() + dt.timedelta(days=366)).isoformat()):
        for path, extra in (("/api/v1/orders/validate/", {}), ("/api/v1/orders/", {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())})):
            response = api.post(path, _with(**{"prep.compounding_date": day}), format="json", **extra)
            assert response.status_code == 400, (path, day, response.content[:300])
            error = response.json()["error"]
            assert error["code"] == "validation_error"
            assert "compounding_date" in str(error["fields"]) and "within a year" in str(error["fields"])
    assert Order.objects.count() == orders
    in_a_year = (timezone.localdate() + dt.timedelta(days=365)).isoformat()
    assert api.post("/api/v1/orders/validate/", _with(**{"prep.compounding_date": in_a_year}), format="json").status_code == 200


@pytest.mark.parametrize("born", ["0001-01-01", "1800-01-01", "1899-12-31", "2999-01-01"])
def test_an_impossible_date_of_birth_is_refused_by_validate_as_by_create(api_as, rivera, ready, born):
    api = api_as(rivera.user)
    response = api.post("/api/v1/orders/validate/", _with(**{"patient.date_of_birth": born}), format="json")
    assert response.status_code == 400 and "date_of_birth" in response.json()["error"]["fields"]["patient"]
    created = api.post("/api/v1/patients/", {"first_name": "A", "last_name": "B", "date_of_birth": born, "state": "CA",
                                             "address_line1": "1 Main St", "city": "Oakland", "postal_code": "94601"}, format="json")
    assert created.status_code == 400 and "date_of_birth" in created.json()["error"]["fields"]


def test_the_rules_engine_is_never_handed_an_impossible_date(rivera, ready):
    """Even a caller that skips the serializer (a page, a command) cannot reach the engine with one."""
    from orders.validation import order_validate

    body = copy.deepcopy(BODY)
    body["preparations"][0]["compounding_date"] = dt.date(9999, 12, 31)
    with pytest.raises(ServiceError) as refused:
        order_validate(user=rivera.user, body=body)
    assert "within a year" in str(refused.value.fields)
