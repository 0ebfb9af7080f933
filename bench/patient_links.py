"""Print status-link paths for the load test: approves a few demo orders so they have links."""

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django  # noqa: E402

django.setup()
from rest_framework.test import APIClient  # noqa: E402

from orders.models import Order  # noqa: E402
from orders.patient_links import link_token, patient_link_current  # noqa: E402
from portal.models import User  # noqa: E402

doctor, pharmacist = APIClient(), APIClient()
doctor.force_authenticate(User.objects.get(username="dr.rivera"))
pharmacist.force_authenticate(User.objects.get(username="pharmacist"))
body = {"patient": {"first_name": "Link", "last_name": "Load", "date_of_birth": "1990-01-01"},
        "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94607"},
        "preparations": [{"base": "ointment-base", "quantity": 30, "unit": "g", "directions": "Apply twice daily."}]}
for _ in range(5):
    order = doctor.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
    pharmacist.post(f"/api/v1/orders/{order['id']}/approve/", {}, format="json")
    print(f"/s/{link_token(patient_link_current(order=Order.objects.get(public_id=order['id'])))}/")
