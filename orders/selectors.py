"""Order and patient reads, scoped to what the caller may see. Anything else is not found."""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.db.models import Func, JSONField

from orders.history_text import history
from orders.models import Clinic, Favourite, Order, OrderEvent, OrderStatus, Patient, PatientLink, Preparation, PreparationStatus, Visibility
from orders.validation import prescriber_for_caller
from portal.errors import NotFound
from portal.models import PHARMACY_ROLES, Role


def _clinic_scope(user) -> Q:
    """Pharmacy staff see every clinic's orders; a prescriber only their own clinic's; a platform account the
    clinics it acts for."""
    if user.role in PHARMACY_ROLES:
        return Q()
    if user.role == Role.PLATFORM:
        return Q(clinic_id__in=Clinic.objects.filter(platform_accounts=user).values("pk"))
    prescriber = prescriber_for_caller(user=user, prescriber_npi=None)
    return Q(clinic_id=prescriber.clinic_id)


def clinics_for_caller(*, user) -> QuerySet:
    """The clinics the caller acts for: a prescriber's own, or the ones a platform account is linked to
    (refused, as before, for anyone else)."""
    if user.role == Role.PLATFORM:
        return Clinic.objects.filter(platform_accounts=user).order_by("name", "pk")
    prescriber = prescriber_for_caller(user=user, prescriber_npi=None)
    return Clinic.objects.filter(pk=prescriber.clinic_id)


def patient_list(*, user, search: str = "") -> QuerySet:
    if user.role == Role.PLATFORM:
        qs = Patient.objects.filter(_clinic_scope(user))
    else:
        prescriber = prescriber_for_caller(user=user, prescriber_npi=None)
        qs = Patient.objects.filter(clinic_id=prescriber.clinic_id)
    qs = qs.prefetch_related("allergies").order_by("last_name", "first_name", "pk")
    search = search.strip()
    if search:
        try:
            day = dt.date.fromisoformat(search)
        except ValueError:
            for word in search.split()[:4]:
                qs = qs.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(external_id__iexact=word))
        else:
            qs = qs.filter(date_of_birth=day)
    return qs


def _by_public_id(queryset: QuerySet, public_id, what: str):
    """One row of a caller-scoped queryset: absent, out of scope and malformed ids (Django raises
    ValidationError for a bad UUID string) are all the same 404."""
    try:
        return queryset.get(public_id=public_id)
    except (ObjectDoesNotExist, ValueError, ValidationError):
        raise NotFound(f"No such {what}.") from None


def patient_find(*, user, text: str, limit: int = 20) -> list[Patient]:
    """Patients the caller may see whose public id, external id or names match `text` (the audit search)."""
    text = text.strip()
    if not text:
        return []
    scope = Q() if user.role in PHARMACY_ROLES else Q(clinic_id=prescriber_for_caller(user=user, prescriber_npi=None).clinic_id)
    patients = Patient.objects.filter(scope)
    try:
        return list(patients.filter(public_id=uuid.UUID(text)))
    except ValueError:
        pass
    name = Q()
    for word in text.split():
        name &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return list(patients.filter(Q(external_id__iexact=text) | name).select_related("clinic").order_by("last_name", "first_name")[:limit])


def patient_get(*, user, public_id) -> Patient:
    return _by_public_id(patient_list(user=user), public_id, "patient")


def _preparations() -> QuerySet:
    """An order's preparations as every order read shows them (order_list, order_list_api)."""
    return Preparation.objects.select_related("mfr").order_by("position")


def _live_links() -> Prefetch:
    return Prefetch("patient_links", queryset=PatientLink.objects.filter(revoked_at__isnull=True).order_by("-created_at"),
                    to_attr="live_links")


def order_list(*, user, status: str = "", patient=None, external_id: str = "", date_from=None, date_to=None,
               include_drafts: bool = True) -> QuerySet:
    qs = (
        Order.objects.filter(_clinic_scope(user))
        .select_related("patient", "prescriber__user", "clinic")
        .prefetch_related(Prefetch("preparations", queryset=_preparations()), _live_links())
        .order_by("-created_at", "-pk")
    )
    if user.role in PHARMACY_ROLES:
        qs = qs.exclude(status=OrderStatus.DRAFT)  # a draft is the prescriber's own until signed
    elif not include_drafts:
        qs = qs.exclude(status=OrderStatus.DRAFT)
    if status:
        qs = qs.filter(status=status)
    if patient is not None:
        qs = qs.filter(patient=patient)
    if external_id:
        qs = qs.filter(external_id=external_id)
    if date_from:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__date__lte=date_to)
    return qs


def order_get(*, user, public_id) -> Order:
    return _by_public_id(order_list(user=user), public_id, "order")


class CheckedShown(Func):
    """A preparation's `checked` snapshot without what the order answers never show (the batch: its lines and
    lots; the ingredients' shares): PostgreSQL drops them before they are sent, so the list decodes a few
    keys per preparation instead of the whole engine answer."""

    arity = 1
    output_field = JSONField()
    template = "(%(expressions)s - ARRAY['batch', 'ingredients'])"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="json_remove(%(expressions)s, '$.batch', '$.ingredients')", **extra)


def order_list_api(**filters) -> QuerySet:
    """order_list for the API's list: the same orders, each preparation's snapshot cut to what the answer shows
    (`checked_shown`, read by orders.api_orders), and the order's draft body and attestation left in the database. The
    answer names the prescriber by NPI only: no user or clinic row is joined and built per order."""
    return order_list(**filters).defer("draft", "attestation").select_related(None).select_related("patient", "prescriber") \
        .prefetch_related(None).prefetch_related(
        Prefetch("preparations", queryset=_preparations().defer("checked").annotate(checked_shown=CheckedShown("checked"))),
        _live_links())


def preparation_get(*, user, public_id) -> Preparation:
    """A signed preparation the caller may see (its order in the caller's scope); anything else is not found."""
    orders = order_list(user=user, include_drafts=False).values("pk")
    return _by_public_id(Preparation.objects.filter(order__in=orders).select_related("order__patient", "order__prescriber__user"),
                         public_id, "preparation")


def renewal_list(*, user) -> QuerySet:
    """Renewal requests of the preparations the caller may see."""
    from orders.models import RenewalRequest

    orders = order_list(user=user, include_drafts=False).values("pk")
    return (RenewalRequest.objects.filter(preparation__order__in=orders)
            .select_related("preparation__order__patient", "preparation__order__prescriber__user", "requested_by", "new_order"))


def renewal_get(*, user, public_id):
    return _by_public_id(renewal_list(user=user), public_id, "renewal request")


def renewals_pending(*, user, limit: int = 50) -> list:
    """The caller's clinic's renewals waiting for a prescriber, oldest first (the prescriber's home)."""
    # The card shows the patient, the preparation, the order's number and who asked: not the prescriber's user nor the new
    # order that renewal_list joins too (seven joins took PostgreSQL longer to plan than to run).
    return list(renewal_list(user=user).select_related(None).select_related("preparation__order__patient", "requested_by")
                .filter(status="pending").order_by("created_at")[:limit])


def order_events(*, order: Order) -> QuerySet:
    return OrderEvent.objects.filter(order=order).select_related("actor", "preparation").order_by("sequence")


def favourite_list(*, user, search: str = "") -> QuerySet:
    """The caller's favourites and their clinic's shared ones; `search` matches the name or an ingredient code."""
    prescriber = prescriber_for_caller(user=user, prescriber_npi=None)
    qs = Favourite.objects.filter(
        Q(owner=prescriber) | Q(clinic_id=prescriber.clinic_id, visibility=Visibility.CLINIC)
    ).select_related("owner__user")
    for word in search.split()[:4]:
        qs = qs.filter(Q(name__icontains=word) | Q(preparation__icontains=word))
    return qs


def favourite_get(*, user, public_id) -> Favourite:
    return _by_public_id(favourite_list(user=user), public_id, "favourite")


def order_history(*, order: Order, preparation=None, pharmacy: bool = True) -> list[dict]:
    """The order's events as sentences (orders.history_text), oldest first; one preparation's, with the order's own."""
    events = order_events(order=order)
    if preparation is not None:
        events = events.filter(Q(preparation=preparation) | Q(preparation__isnull=True))
    return history(events, pharmacy=pharmacy)


def hold_reasons(*, order: Order) -> dict[int, str]:
    """{preparation id: the pharmacist's reason} for each of the order's preparations now on hold: the reason
    is the message of the event that put it on hold (the job door writes it), so everyone reads the same words."""
    held = [p.pk for p in order.preparations.all() if p.status == PreparationStatus.ON_HOLD]
    reasons: dict[int, str] = {}
    if held:
        for event in OrderEvent.objects.filter(order=order, preparation_id__in=held, kind="job_status",
                                               to_status=PreparationStatus.ON_HOLD).order_by("sequence"):
            reasons[event.preparation_id] = event.message  # the latest hold wins
    return reasons


def patient_previous_orders(*, order: Order, limit: int = 10) -> list[Order]:
    """The same patient's other signed orders, newest first (for the pharmacist verifying this one)."""
    if order.patient_id is None:
        return []
    return list(Order.objects.filter(patient_id=order.patient_id).exclude(pk=order.pk).exclude(status=OrderStatus.DRAFT)
                .prefetch_related("preparations").order_by("-signed_at")[:limit])
# --- The prescriber's day --------------------------------------------------------------------

def _lean(orders: QuerySet) -> QuerySet:
    """The home's cards and rows: an order's number, status and dates and its patient's name, without order_list's
    prefetches (each preparation's engine snapshot, the patient links) and its other joins."""
    return orders.select_related(None).select_related("patient").prefetch_related(None).only(
        "public_id", "number", "status", "signed_at", "created_at", "updated_at", "prescriber_id", "clinic_id", "patient_id",
        "patient__public_id", "patient__first_name", "patient__last_name")


RECENTLY_REJECTED_DAYS = 30


def orders_needing_prescriber(*, user) -> list[Order]:
    """The caller's orders waiting for them: a pharmacist's question to answer, or a recent rejection to
    act on. Each carries `.reason`, the pharmacist's words."""
    from django.utils import timezone

    prescriber = prescriber_for_caller(user=user, prescriber_npi=None)
    since = timezone.now() - dt.timedelta(days=RECENTLY_REJECTED_DAYS)
    # The card shows the number, the patient's name and the status: none of order_list's prefetches (preparations with
    # their snapshots, patient links) nor its other joins, which cost more than the 50 rows themselves at 100,000 orders.
    orders = list(
        _lean(order_list(user=user)).filter(prescriber=prescriber)
        .filter(Q(status=OrderStatus.CLARIFICATION_REQUESTED) | Q(status=OrderStatus.REJECTED, updated_at__gte=since))[:50]
    )
    reasons = {}
    for event in OrderEvent.objects.filter(order__in=orders, kind__in=["clarification_requested", "rejected"]).order_by("sequence"):
        reasons[event.order_id] = event.message  # the latest one wins
    for order in orders:
        order.reason = reasons.get(order.pk, "")
    return orders


def draft_list(*, user, limit: int = 20) -> QuerySet:
    """The caller's own drafts, most recently touched first."""
    prescriber = prescriber_for_caller(user=user, prescriber_npi=None)
    drafts = _lean(order_list(user=user)).filter(prescriber=prescriber, status=OrderStatus.DRAFT)
    return drafts.order_by("-updated_at", "-pk")[:limit]


def recent_orders(*, user, limit: int = 10) -> QuerySet:
    """The caller's newest signed orders, with their preparations."""
    prescriber = prescriber_for_caller(user=user, prescriber_npi=None)
    lines = Preparation.objects.only("order_id", "position", "status", "base_name", "quantity", "unit").order_by("position")
    return _lean(order_list(user=user, include_drafts=False)).filter(prescriber=prescriber).prefetch_related(
        Prefetch("preparations", queryset=lines))[:limit]


def patient_orders(*, user, patient) -> QuerySet:
    """A patient's orders (not drafts), newest first, scoped like every order read."""
    return order_list(user=user, patient=patient, include_drafts=False)
