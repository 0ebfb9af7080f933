"""Mixed load: prescribers validating and submitting, staff polling the queue and claiming,
patients opening their status links. Run with bench/load.sh (headless, bounded in time)."""

from __future__ import annotations

import os
import random
import uuid

from locust import HttpUser, between, task

PASSWORD = os.environ.get("DEMO_PASSWORD", "compound-demo-2026")
LINKS = [line.strip() for line in open(os.environ.get("PATIENT_LINKS_FILE", "/dev/null")) if line.strip()]

ORDER = {
    "patient": {"first_name": "Load", "last_name": "Test", "date_of_birth": "1990-01-01"},
    "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94607"},
    "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "target_ph": 5.0,
                      "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4},
                                      {"ingredient": "panthenol", "percent": 1}]}],
}


def token_for(client, username):
    """The token load.sh issued (the exchange needs a two-factor code for people), or the exchange for a platform account."""
    issued = os.environ.get({"dr.rivera": "PRESCRIBER_TOKEN", "tech": "STAFF_TOKEN"}.get(username, ""), "")
    if issued:
        return {"Authorization": f"Token {issued}"}
    response = client.post("/api/v1/auth/token/", json={"username": username, "password": PASSWORD}, name="auth/token")
    return {"Authorization": f"Token {response.json()['token']}"}


class Prescriber(HttpUser):
    weight = 3
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.auth = token_for(self.client, "dr.rivera")

    @task(3)
    def validate(self):
        self.client.post("/api/v1/orders/validate/", json=ORDER, headers=self.auth, name="orders/validate")

    @task(1)
    def submit(self):
        self.client.post("/api/v1/orders/", json=ORDER, headers={**self.auth, "Idempotency-Key": str(uuid.uuid4())}, name="orders (submit)")

    @task(1)
    def list_orders(self):
        self.client.get("/api/v1/orders/?page_size=20", headers=self.auth, name="orders (list)")


class Staff(HttpUser):
    weight = 1
    wait_time = between(1, 2)

    def on_start(self):
        self.auth = token_for(self.client, "tech")

    @task(4)
    def poll_queue(self):
        self.client.get("/api/v1/jobs/?status=queued&page_size=50", headers=self.auth, name="jobs (queue)")

    @task(1)
    def claim(self):
        with self.client.post("/api/v1/jobs/claim-next/", headers=self.auth, name="jobs/claim-next", catch_response=True) as response:
            if response.status_code in (200, 404):  # 404: the queue is empty, which is fine
                response.success()


class Patient(HttpUser):
    weight = 1
    wait_time = between(2, 4)

    @task
    def open_link(self):
        if LINKS:
            with self.client.get(random.choice(LINKS), name="patient link", catch_response=True) as response:
                if response.status_code in (200, 429):  # 429: every simulated patient shares one address here
                    response.success()
