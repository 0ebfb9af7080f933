"""The audit log: every change is in history that the application cannot rewrite, every read of
patient data is one access event, and the pharmacy admin searches both and exports CSV."""

import csv
import io
import os
import re

import pytest
from django.db import DatabaseError, connection, transaction

from orders.models import Order, OrderHistory, Patient, PatientHistory
from orders.patient_links import link_token, patient_link_current
from portal.models import AccessEvent
from tests.builders import approve, released_job, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgres():
    """Change history is written by PostgreSQL triggers; on the SQLite fallback there is none."""
    if connection.vendor != "postgresql":
        message = "change history needs PostgreSQL"
        if os.environ.get("REQUIRE_SERVICES", "").strip() in {"1", "true", "yes", "on"}:
            pytest.fail(message)
        pytest.skip(message)


def test_an_api_change_is_in_history_with_who_when_and_where(postgres, api_as, rivera, ready):
    order = submit(api_as, rivera, first="Ada", last="Quill")
    created = OrderHistory.objects.get(pgh_obj__public_id=order["id"], pgh_label="insert")
    assert created.pgh_context["user"] == rivera.user.pk
    assert created.pgh_context["url"] == "/api/v1/orders/" and created.pgh_context["method"] == "POST"
    assert created.pgh_context["ip"] == "127.0.0.1"
    patient = PatientHistory.objects.get(first_name="Ada", pgh_label="insert")
    assert patient.pgh_context["user"] == rivera.user.pk and patient.last_name == "Quill"


def _patient(prescriber, first_name: str) -> Patient:
    return Patient.objects.create(clinic=prescriber.clinic, first_name=first_name, last_name="Hist", date_of_birth="1990-01-01",
                                  address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601")


def test_a_submit_sends_the_history_context_once_per_transaction_and_every_row_has_it(postgres, api_as, rivera, ready):
    """The triggers' context (who, url, method, address) is set at a transaction's first write, not before every write;
    every history row the submission writes still carries it."""
    from django.test.utils import CaptureQueriesContext

    from orders.models import PreparationHistory

    with CaptureQueriesContext(connection) as ctx:
        order = submit(api_as, rivera, first="Ona", last="Vale")
    sent = [q["sql"] for q in ctx.captured_queries if "set_config('pghistory.context_id'" in q["sql"]]
    writes = [q["sql"] for q in ctx.captured_queries if re.search(r"\b(INSERT|UPDATE|DELETE)\b", q["sql"])]
    # The token's last use, the idempotency claim, and the order's own transaction: one each, for more than a dozen writes.
    assert len(sent) <= 3 < 10 < len(writes)
    rows = [OrderHistory.objects.get(pgh_obj__public_id=order["id"], pgh_label="insert"),
            PatientHistory.objects.get(first_name="Ona", pgh_label="insert"),
            *PreparationHistory.objects.filter(pgh_obj__order__public_id=order["id"])]
    assert len(rows) == 3
    assert {(r.pgh_context["user"], r.pgh_context["url"], r.pgh_context["method"]) for r in rows} == {
        (rivera.user.pk, "/api/v1/orders/", "POST")}


def test_the_history_context_is_sent_again_when_a_savepoint_took_it_back(postgres, rivera):
    """Metadata added inside a savepoint that rolls back is undone in PostgreSQL with it: the next write sends it again."""
    import pghistory

    with pghistory.context(user=rivera.user.pk, url="/first"), transaction.atomic():
        _patient(rivera, "Before")
        try:
            with transaction.atomic():
                pghistory.context(url="/changed")  # metadata for the rest of the context
                _patient(rivera, "Inside")
                raise DatabaseError("undo the savepoint")
        except DatabaseError:
            pass
        _patient(rivera, "After")
    urls = {p.first_name: p.pgh_context["url"] for p in PatientHistory.objects.filter(pgh_label="insert")}
    assert urls == {"Before": "/first", "After": "/changed"}


@pytest.mark.django_db(transaction=True)
def test_each_transaction_of_one_context_gets_the_context(postgres, rivera):
    """Two transactions under one context (a task, a command): the second sets it again (it ended with the first)."""
    import pghistory

    with pghistory.context(user=rivera.user.pk, url="/task"):
        for name in ("First", "Second"):
            with transaction.atomic():
                _patient(rivera, name)
        _patient(rivera, "Autocommit")
    contexts = {p.first_name: p.pgh_context for p in PatientHistory.objects.filter(pgh_label="insert")}
    assert {name: (c or {}).get("url") for name, c in contexts.items()} == {"First": "/task", "Second": "/task", "Autocommit": "/task"}


def test_update_bulk_update_and_raw_sql_all_reach_history(postgres, api_as, rivera, ready):
    order = Order.objects.get(public_id=submit(api_as, rivera)["id"])
    before = OrderHistory.objects.filter(pgh_obj=order).count()
    Order.objects.filter(pk=order.pk).update(external_id="by-update")
    order.external_id = "by-bulk"
    Order.objects.bulk_update([order], ["external_id"])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE orders_order SET external_id = 'by-raw-sql' WHERE id = %s", [order.pk])
    Order.objects.filter(pk=order.pk).update(external_id="by-raw-sql")  # no change, no row
    rows = list(OrderHistory.objects.filter(pgh_obj=order).order_by("pgh_id").values_list("pgh_label", "external_id"))[before:]
    assert rows == [("update", "by-update"), ("update", "by-bulk"), ("update", "by-raw-sql")]


@pytest.mark.parametrize("table", ["orders_orderhistory", "orders_patienthistory", "orders_preparationhistory", "portal_userhistory",
                                   "portal_accessevent"])
def test_the_application_cannot_rewrite_or_delete_audit_rows(postgres, api_as, rivera, ready, client, password, table):
    order = submit(api_as, rivera)
    sign_in(client, rivera.user, password).get(f"/orders/{order['id']}/")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a fixed list of our tables
        count = cursor.fetchone()[0]
        assert count > 0
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
                cursor.execute(statement)
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert cursor.fetchone()[0] == count


def _events():
    return list(AccessEvent.objects.order_by("id").values_list("actor_name", "channel", "action", "object_type", "patient_id"))


def test_each_read_of_patient_data_is_exactly_one_access_event(api_as, rivera, pharmacist, technician, staff, ready, client, password):
    order, job = released_job(api_as, rivera, staff)
    patient = Order.objects.get(public_id=order["id"]).patient
    start = AccessEvent.objects.count()
    doctor = api_as(rivera.user)
    assert doctor.get(f"/api/v1/orders/{order['id']}/").status_code == 200
    assert doctor.get(f"/api/v1/patients/{patient.public_id}/").status_code == 200
    assert staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/").status_code == 200
    assert staff["tech"].get(f"/api/v1/jobs/{job['id']}/label/").status_code == 200
    assert doctor.get("/api/v1/orders/").status_code == 200  # a list is not a detail read
    pages = sign_in(client, rivera.user, password)
    assert pages.get(f"/orders/{order['id']}/").status_code == 200
    assert pages.get(f"/patients/{patient.public_id}/").status_code == 200
    client.logout()
    sign_in(client, technician, password)
    assert client.get(f"/pharmacy/jobs/{job['id']}/").status_code == 200
    assert client.get(f"/pharmacy/jobs/{job['id']}/worksheet-v1.pdf").status_code == 200
    assert client.get(f"/pharmacy/jobs/{job['id']}/label.pdf").status_code == 200
    client.logout()
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"})
    assert client.get(f"/s/{token}/").status_code == 200
    events = _events()[start:]
    assert events == [
        ("rivera", "api", "view", "order", patient.pk),
        ("rivera", "api", "view", "patient", patient.pk),
        (technician.username, "api", "download", "worksheet", patient.pk),
        (technician.username, "api", "download", "label", patient.pk),
        ("rivera", "page", "view", "order", patient.pk),
        ("rivera", "page", "view", "patient", patient.pk),
        (technician.username, "page", "view", "job", patient.pk),
        (technician.username, "page", "download", "worksheet", patient.pk),
        (technician.username, "page", "download", "label", patient.pk),
        ("patient link", "link", "view", "patient_link", patient.pk),
    ]
    link_event = AccessEvent.objects.get(channel="link")
    assert token not in link_event.path and link_event.path == "/s/[redacted]/"


def test_a_refused_read_writes_no_access_event(api_as, rivera, chen, ready):
    order = submit(api_as, rivera)
    start = AccessEvent.objects.count()
    assert api_as(chen.user).get(f"/api/v1/orders/{order['id']}/").status_code == 404
    assert AccessEvent.objects.count() == start


@pytest.fixture
def history(postgres, api_as, rivera, chen, staff, ready, client, password):
    """Two patients' orders, approved, one read by the pharmacist on the page."""
    ada = submit(api_as, rivera, first="Ada", last="Quill")
    other = submit(api_as, chen, first="Bo", last="Stone")
    approve(staff, ada)
    return {"ada": ada, "other": other}


def _rows(page: str) -> list[tuple[str, str]]:
    """(kind, who) of each row of the audit table."""
    return re.findall(r'<tr data-kind="(\w+)"><td[^>]*>[^<]*</td><td[^>]*>\w+</td><td[^>]*>([^<]*)</td>', page)


def test_admin_searches_the_audit_by_patient_and_user(history, client, pharmacy_admin, pharmacist, rivera, password):
    sign_in(client, pharmacist, password).get(f"/pharmacy/verify/{history['other']['id']}/")
    client.logout()
    admin = sign_in(client, pharmacy_admin, password)
    page = admin.get("/pharmacy/admin/audit/", {"patient": "Ada Quill"}).content.decode()
    assert "Patient: Quill, Ada" in page and "Stone" not in page
    assert AccessEvent.objects.filter(actor_name=pharmacy_admin.username, object_type="audit", object_id="search").count() == 1
    assert "update <span class=\"hint\">(" in page and "status" in page  # approval: which fields changed
    assert {("change", "rivera"), ("change", pharmacist.username)} <= set(_rows(page))  # submitted by rivera, approved by the pharmacist
    by_user = _rows(admin.get("/pharmacy/admin/audit/", {"user": pharmacist.username}).content.decode())
    assert ("access", pharmacist.username) in by_user and {actor for _, actor in by_user} == {pharmacist.username}
    future = admin.get("/pharmacy/admin/audit/", {"patient": "Ada Quill", "since": "2099-01-01"}).content.decode()
    assert "Nothing matches." in future


def test_an_ambiguous_patient_asks_which_one_and_an_unknown_one_says_so(history, api_as, rivera, client, pharmacy_admin, password):
    submit(api_as, rivera, first="Ada", last="Quinn")
    admin = sign_in(client, pharmacy_admin, password)
    page = admin.get("/pharmacy/admin/audit/", {"patient": "Ada"}).content.decode()
    assert 'data-testid="audit-choices"' in page and "Quill, Ada" in page and "Quinn, Ada" in page
    assert "No patient matches" in admin.get("/pharmacy/admin/audit/", {"patient": "Nobody Here"}).content.decode()
    backwards = admin.get("/pharmacy/admin/audit/", {"since": "2026-02-01", "until": "2026-01-01"}).content.decode()
    assert "swap the dates" in backwards


def test_csv_export_holds_every_row_is_recorded_and_defuses_formulas(history, api_as, rivera, client, pharmacy_admin, password):
    ada = Patient.objects.get(first_name="Ada")
    Patient.objects.filter(pk=ada.pk).update(notes="=HYPERLINK(\"http://evil.example\")")
    admin = sign_in(client, pharmacy_admin, password)
    response = admin.get("/pharmacy/admin/audit/", {"patient": str(ada.public_id), "format": "csv"})
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    assert response["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["time_utc", "kind", "actor", "action", "object_type", "object_id", "patient_id", "ip", "path", "changed", "detail"]
    notes_change = next(row for row in rows[1:] if row[4] == "patient" and row[3] == "update")
    assert notes_change[9] == "notes" and "HYPERLINK" in notes_change[10]  # what changed, and the row after it
    kinds = {(row[1], row[4], row[3]) for row in rows[1:]}
    assert {("change", "patient", "insert"), ("change", "order", "insert"), ("change", "patient", "update")} <= kinds, kinds
    assert all(not cell.startswith("=") for row in rows for cell in row)
    assert AccessEvent.objects.filter(actor_name=pharmacy_admin.username, action="export", object_type="audit", patient_id=ada.pk).count() == 1


@pytest.mark.parametrize("persona", ["rivera", "pharmacist", "technician"])
def test_only_the_pharmacy_admin_opens_the_audit(client, request, password, persona):
    user = request.getfixturevalue(persona)
    sign_in(client, getattr(user, "user", user), password)
    assert client.get("/pharmacy/admin/audit/").status_code == 403
    assert client.get("/pharmacy/admin/audit/", {"format": "csv"}).status_code == 403


def test_a_password_change_is_recorded_without_its_hash_and_sign_ins_are_not_changes(postgres, client, rivera, password):
    from portal.models import UserHistory

    user = rivera.user
    before = UserHistory.objects.filter(pgh_obj=user).count()
    assert client.login(username=user.username, password=password)  # writes last_login
    assert UserHistory.objects.filter(pgh_obj=user).count() == before
    user.set_password("a-brand-new-pass-42")
    user.save()
    row = UserHistory.objects.filter(pgh_obj=user).latest("pgh_id")
    assert row.pgh_label == "password_changed"
    assert "password" not in {f.name for f in UserHistory._meta.fields}
