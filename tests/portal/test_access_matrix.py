"""Roles × every page and endpoint × own and another clinic's objects.

Every route of the site is classified below; a new route that is not fails the first test, so nothing
is added without saying who may reach it. Another clinic's prescriber gets 404 for every object route
(reads and writes, pages and API) and changes nothing; lists never include another clinic's objects;
prescribers get 403 from pharmacy routes; nobody signed out gets anything."""

import re
import uuid

import pytest
from django.urls import get_resolver

from fulfillment.models import Job, Shipment, WebhookDelivery, WebhookEndpoint
from formulary.models import StockLot
from orders.models import Order, RenewalRequest
from portal.models import AccessEvent, ApiToken
from tests.builders import released_job
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db

# Objects owned by one clinic (or one user): another clinic's prescriber must get 404.
CLINIC_OBJECT_ROUTES = {
    "order-detail", "order-edit", "order-review", "order-cancel", "order-answer", "order-amend", "order-reorder", "order-link-revoke",
    "order-link-reissue", "webhook", "patient-edit", "token-revoke", "order-discard", "patient-page", "favourite-rename",
    "favourite-delete", "order-print", "order-print-pdf",
    "api-order", "api-order-cancel", "api-order-amend", "api-order-events", "api-patient", "api-webhook", "api-webhook-deliveries",
    "api-webhook-redeliver", "order-rush", "api-order-rush", "api-preparation", "api-preparation-refills",
    "api-preparation-renewals", "api-renewal", "api-renewal-approve", "api-renewal-deny", "preparation", "preparation-refill", "preparation-renewal",
    "renewal-approve", "renewal-change", "renewal-deny",
    "fhir-medication-request", "fhir-task", "fhir-medication-dispense", "fhir-patient",
}
# The pharmacy's own work: prescribers and platforms get 403 (or 404), never the data.
PHARMACY_ROUTES = {
    "pharmacist-home", "technician-home", "pharmacy-admin-home", "audit", "stock", "stock-receive", "stock-lot-release",
    "stock-lot-quarantine", "verification-queue", "verification-detail", "verification-approve", "verification-reject",
    "verification-clarify", "verification-bud", "queue", "queue-claim-next", "job", "job-worksheet-status", "job-worksheet-pdf", "job-label-pdf",
    "job-claim", "job-release", "job-worksheet", "job-record", "job-qc", "job-verify", "job-ship", "job-hold", "job-resume", "shipment-labels-pdf",
    "api-lots", "api-lot-release", "api-lot-quarantine", "api-order-approve", "api-order-reject", "api-order-clarify",
    "api-jobs", "api-jobs-claim-next", "api-job-claim", "api-job-release", "api-job-worksheet", "api-job-record", "api-job-qc",
    "api-job-verify", "api-job-hold", "api-job-resume", "api-job-label", "api-shipments", "api-shipment",
    "metrics", "metrics-csv", "rush-accept", "rush-decline", "api-order-rush-accept", "api-order-rush-decline", "api-metrics",
    # Master formulation records: the pharmacy's recipes (no patient data), for pharmacy staff only.
    "mfr-library", "mfr", "mfr-print", "mfr-compare", "mfr-approve", "mfr-retire", "mfr-revise", "mfr-edit", "mfr-review",
    "verification-mfr", "api-mfrs", "api-mfr", "api-mfr-approve", "api-mfr-retire", "api-mfr-revise",
    # Compounding records (USP <795> 7.3).
    "job-compounding-record", "job-compounding-record-pdf", "job-record-deviation", "api-job-compounding-record",
    "api-job-record-deviations",
}
# Lists a prescriber sees: only their clinic's rows.
LIST_ROUTES = {"orders", "patients", "webhooks", "favourites", "api-orders", "api-patients", "api-webhooks", "api-events",
               "fhir-medication-requests", "fhir-tasks", "fhir-medication-dispenses"}
# No patient data, or only the caller's own account: sign-in, two factors, the formulary, docs, health,
# the patient's own link (tested in test_patient_links), the carrier's signed webhook (tests/fulfillment/test_shipping.py).
OPEN_OR_SELF_ROUTES = {
    "home", "healthz", "patient-status", "prescriber-home", "login", "logout", "two-factor-setup", "two-factor-verify",
    "security", "recovery-codes-new", "token-create", "password_reset", "password_reset_done", "password_reset_confirm",
    "password_reset_complete", "formulary", "order-new", "patient-new", "api-token", "api-ingredients", "api-bases",
    "api-allergen-groups", "api-orders-validate", "api-carrier-webhook", "schema", "api-docs",
    "ingredient-search", "session-keep-alive", "session-resume",
    "admin-login",  # a redirect to the portal's sign-in (tests/security/test_f01_admin_sign_in.py)
    # FHIR: the CapabilityStatement; a transaction makes orders for the caller's own clinic only (an outsider's
    # requester is refused: tests/fulfillment/fhir/test_create.py); every other path says it is not supported.
    "fhir-metadata", "fhir-system", "fhir-unsupported",
}
TOKEN_PREFIXES = ("/api/", "/fhir/")  # answered to tokens (the test's API client); everything else is a page


def _routes():
    def walk(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                if str(p.pattern) != "admin/":
                    yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield p.name, prefix + str(p.pattern)

    return dict(walk(get_resolver().url_patterns))


def test_every_route_is_classified():
    names = set(_routes()) - {None}
    classified = CLINIC_OBJECT_ROUTES | PHARMACY_ROUTES | LIST_ROUTES | OPEN_OR_SELF_ROUTES
    assert names - classified == set(), "classify these routes in the matrix"
    assert classified - names == set(), "these routes no longer exist"


@pytest.fixture
def world(api_as, rivera, chen, ready, staff):
    """Rivera's clinic has an order through to shipment, a patient, a webhook with a delivery and a
    token; chen (another clinic) has one order of their own."""
    hook = api_as(rivera.user).post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "event_types": ["order.status_changed"]},
                                    format="json")
    assert hook.status_code == 201, hook.json()
    order, job = released_job(api_as, rivera, staff)
    shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                        "tracking_number": "SIM-MATRIX-1"}, format="json")
    assert shipped.status_code == 201, shipped.json()
    from tests.builders import submit

    theirs = submit(api_as, chen, first="Bo", last="Stone")
    from orders.services import favourite_save

    rivera_order = Order.objects.get(public_id=order["id"])
    endpoint = WebhookEndpoint.objects.get(public_id=hook.json()["id"])
    return {
        "order": rivera_order, "theirs": Order.objects.get(public_id=theirs["id"]),
        "kwargs": {
            "order_id": rivera_order.public_id, "patient_id": rivera_order.patient.public_id, "endpoint_id": endpoint.public_id,
            "delivery_id": WebhookDelivery.objects.filter(endpoint=endpoint).first().public_id,
            "job_id": Job.objects.get(public_id=job["id"]).public_id, "shipment_id": Shipment.objects.get().public_id,
            "lot_id": StockLot.objects.first().public_id, "version": 1, "carrier": "simulated",
            "token_id": ApiToken.objects.filter(user=rivera.user).first().pk,
            "preparation_id": rivera_order.preparations.first().public_id,
            "mfr_id": rivera_order.preparations.first().mfr.public_id, "other_id": rivera_order.preparations.first().mfr.public_id,
            "renewal_id": RenewalRequest.objects.create(preparation=rivera_order.preparations.first(), source="pharmacy",
                                                        why="NO_REFILLS_LEFT").public_id,
            "favourite_id": favourite_save(prescriber=rivera, name="Matrix cream", visibility="clinic",
                                           preparation={"base": "cream-base-pf", "ingredients": []}).public_id,
        },
    }


def _url(route: str, kwargs: dict) -> str:
    def fill(match):
        name = match.group(1).split(":")[-1]
        return str(kwargs[name])

    path = re.sub(r"<([^>]+)>", fill, route)
    return "/" + path.replace("^", "").replace("$", "")


def _state(world) -> tuple:
    order = Order.objects.get(pk=world["order"].pk)
    endpoint = WebhookEndpoint.objects.get(public_id=world["kwargs"]["endpoint_id"])
    from orders.models import Favourite

    return (order.status, order.version, order.patient.last_name, endpoint.active, endpoint.url,
            list(Favourite.objects.filter(public_id=world["kwargs"]["favourite_id"]).values_list("name", flat=True)),
            ApiToken.objects.filter(revoked_at__isnull=True).count(), list(order.patient_links.values_list("revoked_at", flat=True)),
            list(RenewalRequest.objects.values_list("status", flat=True)), Job.objects.count(), Order.objects.count())


def test_another_clinics_prescriber_gets_404_everywhere_and_changes_nothing(world, chen, rivera, api_as, client, password):
    routes = _routes()
    page = sign_in(client, chen.user, password)
    api = api_as(chen.user)
    before = _state(world)
    reads_before = AccessEvent.objects.count()
    wrong = []
    for name in sorted(CLINIC_OBJECT_ROUTES):
        url = _url(routes[name], world["kwargs"])
        caller = api if url.startswith(TOKEN_PREFIXES) else page
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(caller, method)(url, {}, **({"format": "json"} if caller is api else {}))
            if response.status_code not in (404, 405):
                wrong.append((method.upper(), url, response.status_code))
    assert wrong == []
    assert _state(world) == before
    assert AccessEvent.objects.count() == reads_before  # nothing was read


def test_the_owning_clinic_reaches_the_same_objects(world, rivera, api_as, client, password):
    """The 404s above are scoping, not missing objects: the owner reads every one of them."""
    routes = _routes()
    page = sign_in(client, rivera.user, password)
    api = api_as(rivera.user)
    readable = {"order-detail", "preparation", "api-preparation", "api-renewal", "webhook", "patient-edit", "patient-page", "order-print", "api-order", "api-order-events", "api-patient", "api-webhook",
                "api-webhook-deliveries", "fhir-medication-request", "fhir-task", "fhir-medication-dispense", "fhir-patient"}
    statuses = {name: (api if routes[name].startswith(("api/", "fhir/")) else page).get(_url(routes[name], world["kwargs"])).status_code
                for name in sorted(readable)}
    assert statuses == {name: 200 for name in readable}


def test_lists_hold_only_the_callers_clinic(world, chen, api_as, client, password):
    routes = _routes()
    page = sign_in(client, chen.user, password)
    api = api_as(chen.user)
    theirs, ours = world["theirs"], world["order"]
    secrets = [ours.number, str(ours.public_id), ours.patient.last_name, str(ours.patient.public_id), "127.0.0.1:9/hook",
               str(world["kwargs"]["endpoint_id"])]
    seen_own = False
    for name in sorted(LIST_ROUTES):
        response = (api if routes[name].startswith(("api/", "fhir/")) else page).get(_url(routes[name], {}))
        assert response.status_code == 200, name
        body = response.content.decode()
        assert [s for s in secrets if s in body] == [], name
        seen_own |= theirs.number in body
    assert seen_own  # the lists do show chen's own order


@pytest.mark.parametrize("who", ["rivera", "chen", "platform"])
def test_prescribers_and_platforms_get_nothing_from_pharmacy_routes(world, who, request, api_as, client, password):
    from tests.factories import UserFactory

    user = UserFactory(username="platform-x", role="platform") if who == "platform" else request.getfixturevalue(who).user
    routes = _routes()
    api = api_as(user)
    page = sign_in(client, user, password) if who != "platform" else client
    before = _state(world)
    wrong = []
    for name in sorted(PHARMACY_ROUTES):
        url = _url(routes[name], world["kwargs"])
        caller = api if url.startswith(TOKEN_PREFIXES) else page
        for method in ("get", "post"):
            response = getattr(caller, method)(url, {}, **({"format": "json"} if caller is api else {}))
            allowed = (401, 403, 404, 405) if caller is api else (302, 403, 404, 405)
            if response.status_code not in allowed:
                wrong.append((method.upper(), url, response.status_code))
    assert wrong == []
    assert _state(world) == before


def test_signed_out_callers_get_nothing(world, client, api_client):
    routes = _routes()
    wrong = []
    for name in sorted(CLINIC_OBJECT_ROUTES | PHARMACY_ROUTES | LIST_ROUTES):
        url = _url(routes[name], world["kwargs"])
        response = (api_client if url.startswith(TOKEN_PREFIXES) else client).get(url)
        expected = {401} if url.startswith(TOKEN_PREFIXES) else {302, 405}
        if response.status_code not in expected or (response.status_code == 302 and "/accounts/login/" not in response["Location"]):
            wrong.append((url, response.status_code))
    assert wrong == []


def test_a_made_up_id_is_404_like_another_clinics(world, rivera, api_as):
    api = api_as(rivera.user)
    assert api.get(f"/api/v1/orders/{uuid.uuid4()}/").status_code == 404
    assert api.get(f"/api/v1/patients/{uuid.uuid4()}/").status_code == 404
