"""The printable order is rendered by a real worker process (the `pdf` queue), not in the request, and reads back."""

import time

import pytest

from orders.models import Order
from tests.builders import pdf_text, submit
from tests.twofa import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_renders_the_printable_order(celery_worker_process, client, api_as, rivera, password, ready):
    order = Order.objects.get(public_id=submit(api_as, rivera, first="Maya", last="Lopez")["id"])
    sign_in(client, rivera.user, password)
    assert 'data-testid="order-print-waiting"' in client.get(f"/orders/{order.public_id}/print/").content.decode()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the page polls like this every second
        if 'data-testid="order-print-ready"' in client.get(f"/orders/{order.public_id}/print/", HTTP_HX_REQUEST="true").content.decode():
            break
        time.sleep(0.5)
    else:
        pytest.fail(celery_worker_process.log_path.read_text()[-3000:])
    text = pdf_text(client.get(f"/orders/{order.public_id}/print.pdf").content)
    assert f"Prescription order {order.number}" in text and "Niacinamide 4 %" in text and "Signed electronically" in text
    assert "fulfillment.tasks.render_order_print" in celery_worker_process.log_path.read_text()
