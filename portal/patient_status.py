"""The patient's status page: open a link, confirm the date of birth, follow the order.

Every failure (malformed, unknown, revoked or expired token, a cancelled order, a wrong or badly
typed date of birth) looks the same and says nothing about which part was wrong. Look-ups are
rate-limited per client address and date-of-birth attempts per link."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from orders.patient_links import patient_link_resolve
from portal import ratelimit
from portal.audit import record_access
from portal.models import Pharmacy

LOOKUPS_PER_ADDRESS = 30  # per 10 minutes: a patient opens their link a few times; a guesser is stopped
DOB_TRIES_PER_LINK = 5  # per 15 minutes
DOB_TRIES_PER_ADDRESS = 20


def _page(request, template: str, context: dict, status: int = 200):
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response.patient_page = True  # portal.middleware.PatientPagesMiddleware leaves it as it is
    return response


def _not_found(request):
    return _page(request, "patient/not_found.html", {}, status=404)


def _limited(request):
    return _page(request, "patient/limited.html", {}, status=429)


def _session_key(link) -> str:
    return f"patient-link-{link.pk}"


@never_cache
@csrf_exempt
def patient_status(request, token: str):
    # CSRF exempt on purpose: with Referrer-Policy no-referrer the browser posts "Origin: null", which
    # Django's origin check refuses. A forged post here can only spend the rate-limited date-of-birth
    # tries of a link the forger already holds; it can reveal or change nothing.
    address = ratelimit.client_address(request)
    # A patient who already confirmed their date of birth in this browser is not counted against the
    # address limit (patients behind one clinic Wi-Fi or carrier NAT share an address); guessers are,
    # and once over the limit they are refused before any database lookup.
    has_confirmed = any(key.startswith("patient-link-") for key in request.session.keys())  # noqa: SIM118 - a session is not iterable
    if not has_confirmed and ratelimit.hit("patient-lookup", address, window=600) > LOOKUPS_PER_ADDRESS:
        return _limited(request)
    link = patient_link_resolve(token)
    confirmed = link is not None and bool(request.session.get(_session_key(link)))
    if has_confirmed and not confirmed and ratelimit.hit("patient-lookup", address, window=600) > LOOKUPS_PER_ADDRESS:
        return _limited(request)
    if link is None:
        return _not_found(request)
    if confirmed:
        record_access(request, object_type="patient_link", object_id=link.pk, patient_id=link.order.patient_id)
        if request.method == "POST" and request.POST.get("action") == "refill":
            request.session[_flash_key(link)] = _patient_refill(link, request.POST.get("preparation", ""), request.POST.get("note", ""))
            return redirect(request.path)
        context = status_context(link)
        context["flash"] = request.session.pop(_flash_key(link), None)
        return _page(request, "patient/status.html", context)
    error = False
    if request.method == "POST":
        # Count the try first (atomic), then compare: concurrent tries cannot get past the limit.
        per_link = ratelimit.hit("patient-dob", str(link.pk), window=900)
        per_address = ratelimit.hit("patient-dob-address", address, window=900)
        if per_link > DOB_TRIES_PER_LINK or per_address > DOB_TRIES_PER_ADDRESS:
            return _limited(request)
        try:
            given = dt.date.fromisoformat(request.POST.get("date_of_birth", "").strip())
        except ValueError:
            given = None
        if given is not None and given == link.order.patient.date_of_birth:
            ratelimit.reset("patient-dob", str(link.pk))
            ratelimit.give_back("patient-dob-address", address)
            request.session.cycle_key()
            request.session[_session_key(link)] = True
            request.session.set_expiry(0)  # until the browser closes
            return redirect(request.path)
        error = True
    return _page(request, "patient/confirm.html", {"error": error})


def _flash_key(link) -> str:
    return f"patient-flash-{link.pk}"


def _patient_refill(link, preparation_id: str, note: str) -> dict:
    """The patient asks for a refill of one preparation of their order (their date of birth is confirmed in this
    session). The same service and rules as everyone's; a refusal for none left asks the prescriber to renew."""
    from fulfillment import refills, renewals
    from portal.errors import ServiceError

    prep = next((p for p in link.order.preparations.all() if str(p.public_id) == str(preparation_id)), None)
    if prep is None:
        return {"ok": False, "text": "Choose one of the preparations on this page."}
    try:
        refill, _job, _ignored = refills.refill_request(preparation=prep, by=None, note=note, source="patient")
    except refills.RefillRefused as refused:
        renewal = renewals.renewal_after_refusal(preparation=prep, refusal_code=refused.code, by=None, source="patient")
        text = refused.message.replace("ask the prescriber to renew it", "we have asked your prescriber to renew it") if renewal else refused.message
        return {"ok": False, "text": text, "preparation": str(prep.public_id)}
    except ServiceError as exc:
        return {"ok": False, "text": exc.message, "preparation": str(prep.public_id)}
    return {"ok": True, "preparation": str(prep.public_id),
            "text": f"Refill requested. The pharmacy will make your {prep.base_name.lower()} again and send it to you."}


def status_context(link) -> dict:
    from fulfillment.documents import label_context
    from fulfillment.models import Job, Shipment
    from fulfillment.tracking import CARRIERS
    from orders.rules.engine import STORAGE_TEXT
    from orders.selectors import hold_reasons

    order = link.order
    events = list(order.events.filter(kind__in=["signed", "approved", "job_status", "cancelled", "refill_requested"]).order_by("sequence"))
    preparations = []
    # The latest fill of each preparation (a refill is another job of the same preparation).
    jobs = {job.preparation_id: job for job in Job.objects.filter(preparation__order=order).select_related("record", "shipment")
            .order_by("fill")}
    holds = hold_reasons(order=order)
    for prep in order.preparations.all():
        job = jobs.get(prep.pk)
        steps = [{"label": "Prescription received", "at": order.signed_at}]
        mine = [e for e in events if e.kind == "approved" or (e.preparation_id == prep.pk and e.kind in ("job_status", "refill_requested"))]
        refill_at = max((i for i, e in enumerate(mine) if e.kind == "refill_requested"), default=None)
        if refill_at is not None:  # a refill: its own steps, from the request on
            fill = jobs[prep.pk].fill if prep.pk in jobs else ""
            steps = [{"label": f"Refill {fill} requested", "at": mine[refill_at].created_at}]
            mine = mine[refill_at + 1:]
        steps += [{"label": _STEP_LABELS.get(e.to_status, e.to_status), "at": e.created_at} for e in mine
                  if e.kind == "approved" or (e.kind == "job_status" and e.to_status in _STEP_LABELS)]
        compounded = job is not None and hasattr(job, "record")
        label = label_context(job) if compounded else None
        shipment = job.shipment if job else None
        carrier = CARRIERS.get(shipment.carrier) if shipment else None
        preparations.append({
            "name": prep.base_name, "actives": [line["name"] for line in prep.ingredients], "status": prep.get_status_display(),
            "hold_reason": holds.get(prep.pk, ""),
            "public_id": str(prep.public_id), "refill": _refill_outlook(prep, order),
            "steps": steps, "beyond_use_date": label["beyond_use_date"] if label else None,
            "storage": STORAGE_TEXT.get(prep.storage) if compounded else None,
            "directions": prep.directions, "refills_left": prep.refills_remaining, "refills": prep.refills,
            "tracking_url": (carrier.tracking_url(shipment.tracking_number) or None) if carrier else None,
            "tracking_number": shipment.tracking_number if shipment else None, "carrier": carrier.name if carrier else None,
            "tracking_events": list(shipment.events.all()) if shipment else [],
            "shipped": shipment is not None, "delivered_at": shipment.delivered_at if shipment else None,
            "expected_delivery": _expected_delivery(shipment, carrier),
        })
    pharmacy = Pharmacy.objects.order_by("pk").first()
    waiting = [p for p in preparations if not p["shipped"]]
    return {"first_name": order.patient.first_name, "order_status": order.get_status_display(), "preparations": preparations,
            "shipments": Shipment.objects.filter(orders=order).count(),
            "pharmacy_name": pharmacy.name if pharmacy else settings.PHARMACY_NAME, "pharmacy_phone": pharmacy.phone if pharmacy else "",
            # Before it ships: the pharmacy's promise; once a parcel is out, the carrier's estimate is shown on it.
            "promise": {"ship": order.promised_ship_date, "delivery": order.promised_delivery_date}
            if waiting and order.promised_ship_date and order.status not in ("rejected", "cancelled") else None}


def _refill_outlook(prep, order) -> dict | None:
    """What the patient may do about a refill: ask now, or when the next one is due, or nothing (none written)."""
    from fulfillment.refills import refill_outlook

    if not prep.refills or order.status not in ("approved", "shipped", "delivered"):
        return None
    outlook = refill_outlook(prep)
    refusal = outlook["refusal"]
    return {"can_request": outlook["can_request"], "next_on": outlook["next_refill_on"],
            "why_not": refusal.message.replace("ask the prescriber to renew it", "ask your clinic to renew it") if refusal else "",
            "in_progress": outlook["open_refills"] > 0 or (refusal is not None and refusal.code == "FILL_IN_PROGRESS")}


def _expected_delivery(shipment, carrier):
    """Once shipped and not yet delivered: the carrier's estimate (a date, for the patient)."""
    if shipment is None or carrier is None or shipment.delivered_at is not None:
        return None
    return shipment.estimated_delivery_date or carrier.estimated_delivery(shipment)


_STEP_LABELS = {
    "approved": "Checked by the pharmacist", "queued": "Waiting to be made", "compounding": "Being made",
    "qc": "Quality check", "ready": "Ready to ship", "shipped": "Shipped", "delivered": "Delivered", "rework": "Being remade",
    "on_hold": "On hold",
}
