"""Concurrent submissions over real HTTP on PostgreSQL: one key makes one order, many keys many."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from orders.models import Order
from portal.demo import _demo_pharmacy, _demo_stock
from portal.services import api_token_issue

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BODY = {
    "patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "external_id": "P-1"},
    "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
    "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "target_ph": 5.0,
                      "ingredients": [{"ingredient": "pe9010", "percent": 1}]}],
}


def send(url, token, key, body=BODY):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Token {token}", "Idempotency-Key": key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def setup(live_server, rivera, technician, formulary):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    _demo_pharmacy()
    _demo_stock(technician)
    return f"{live_server.url}/api/v1/orders/", api_token_issue(user=rivera.user)


def test_fifty_concurrent_posts_with_one_key_make_one_order(setup):
    url, token = setup
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: send(url, token, "same-key"), range(50)))
    statuses = [status for status, _ in answers]
    print(f"\n50 concurrent POSTs, one key: {statuses.count(201)} × 201, {statuses.count(409)} × 409, others {set(statuses) - {201, 409}}")
    assert set(statuses) <= {201, 409}
    ids = {body["id"] for status, body in answers if status == 201}
    assert len(ids) == 1
    assert all(body["error"]["code"] == "idempotency_in_progress" for status, body in answers if status == 409)
    assert Order.objects.count() == 1
    status, body = send(url, token, "same-key")  # a retry after it finished
    assert status == 201 and body["id"] in ids


def test_fifty_different_keys_make_fifty_orders(setup):
    url, token = setup
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: send(url, token, f"key-{i}"), range(50)))
    assert [status for status, _ in answers].count(201) == 50, {s for s, _ in answers}
    assert len({body["id"] for _, body in answers}) == 50
    assert len({body["number"] for _, body in answers}) == 50
    assert Order.objects.count() == 50
