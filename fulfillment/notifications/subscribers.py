"""What each change tells the outside world: the order door's events (orders.events, connected in
fulfillment's AppConfig.ready), and the shipments fulfillment reports. Each writes to the outbox in
the change's own transaction."""

from __future__ import annotations

from fulfillment import carriers
from fulfillment.models import Job
from fulfillment.notifications.outbox import email_queue, event_emit
from orders.models import OrderEventKind, RefillRequest, RefillStatus, RenewalRequest
from orders.patient_links import patient_link_issue

K = OrderEventKind
ORDER_STATUS_KINDS = {K.SIGNED, K.APPROVED, K.REJECTED, K.CANCELLED, K.CLARIFICATION_REQUESTED, K.CLARIFICATION_ANSWERED,
                      K.AMENDED, K.STATUS_CHANGED}
PRESCRIBER_EMAILS = {K.CLARIFICATION_REQUESTED: "prescriber_clarification", K.REJECTED: "prescriber_rejected"}


def on_order_event(sender, event, **kwargs) -> None:
    """Receiver of orders.events.order_event_recorded: webhooks for status changes, and the emails they call for."""
    order = event.order
    kind = event.kind
    if kind in ORDER_STATUS_KINDS and event.to_status:
        event_emit(order=order, type="order.status_changed", data={"status": event.to_status, "previous_status": event.from_status})
        if kind == K.APPROVED:
            patient_link_issue(order=order)
            email_queue(template="patient_approved", to=order.patient.email, order=order)
        if kind in PRESCRIBER_EMAILS:
            email_queue(template=PRESCRIBER_EMAILS[kind], to=order.prescriber.user.email, order=order,
                        payload={"message": event.message})
    elif kind in (K.REFILL_REQUESTED, K.REFILL_RELEASED) and event.preparation_id:
        refill_emit(event)
    elif kind in (K.RENEWAL_REQUESTED, K.RENEWAL_APPROVED, K.RENEWAL_DENIED) and event.preparation_id:
        renewal_emit(event)
    elif kind == K.JOB_STATUS and event.preparation_id:
        prep = event.preparation
        event_emit(order=order, type="preparation.status_changed",
                   data={"preparation_id": str(prep.public_id), "position": prep.position, "status": event.to_status,
                         "previous_status": event.from_status})
        lifecycle_emit(event)


def lifecycle_emit(event) -> None:
    """A job held or resumed (issue 18), beside preparation.status_changed. Ids and statuses only: the hold reason is
    read from the order (it may name the patient's care)."""
    if event.kind != K.JOB_STATUS or not event.preparation_id:
        return
    if event.to_status == "on_hold" or event.from_status == "on_hold" and event.to_status != "cancelled":
        job = Job.objects.filter(preparation_id=event.preparation_id).order_by("-fill").first()
        event_emit(order=event.order, type="job.on_hold" if event.to_status == "on_hold" else "job.resumed",
                   data={"job_id": str(job.public_id) if job else None, "job_number": job.number if job else None,
                         "fill": job.fill if job else None, "preparation_id": str(event.preparation.public_id),
                         "status": event.to_status, "previous_status": event.from_status})


def refill_emit(event) -> None:
    """A refill requested or released (issue 18), and the prescription depleted when its last refill is released."""
    prep = event.preparation
    prep.refresh_from_db(fields=["refills", "refills_remaining"])
    refill = RefillRequest.objects.filter(preparation=prep).order_by("-fill").first()
    if event.kind == K.REFILL_RELEASED:
        # The fill released is the latest released one.
        refill = RefillRequest.objects.filter(preparation=prep, status=RefillStatus.RELEASED).order_by("-released_at", "-fill").first()
    job = Job.objects.filter(preparation=prep, fill=refill.fill).first() if refill else None
    data = {"preparation_id": str(prep.public_id), "position": prep.position, "refill_id": str(refill.public_id) if refill else None,
            "fill": refill.fill if refill else None, "job_id": str(job.public_id) if job else None,
            "refills": prep.refills, "refills_remaining": prep.refills_remaining}
    if event.kind == K.REFILL_REQUESTED:
        event_emit(order=event.order, type="refill.requested", data={**data, "source": refill.source if refill else None})
        return
    event_emit(order=event.order, type="refill.released", data=data)
    if prep.refills_remaining == 0:
        event_emit(order=event.order, type="prescription.depleted", data=data)


def renewal_emit(event) -> None:
    """A renewal requested, approved (with the new order) or denied (issue 18)."""
    prep = event.preparation
    # The request this event is about: the newest one asked, or the one just decided. One query either way.
    asked = event.kind == K.RENEWAL_REQUESTED
    renewals = RenewalRequest.objects.filter(preparation=prep) if asked else \
        RenewalRequest.objects.filter(preparation=prep, decided_at__isnull=False)
    renewal = renewals.select_related("new_order").order_by("-created_at" if asked else "-decided_at", "-pk").first()
    data = {"preparation_id": str(prep.public_id), "position": prep.position,
            "renewal_request_id": str(renewal.public_id) if renewal else None, "status": renewal.status if renewal else None}
    if event.kind == K.RENEWAL_APPROVED and renewal and renewal.new_order_id:
        data["new_order_id"] = str(renewal.new_order.public_id)
        data["new_order_number"] = renewal.new_order.number
    event_emit(order=event.order, type=event.kind.replace("_", ".", 1), data=data)


def _shipment_payload(shipment) -> dict:
    return {"shipment": {"carrier": shipment.carrier, "service": shipment.service, "tracking_number": shipment.tracking_number,
                         "cold_pack": shipment.cold_pack},
            "tracking_url": carriers.tracking_url(shipment)}


def _shipment_orders(shipment) -> list:
    return list(shipment.orders.select_related("patient", "prescriber__user").order_by("pk"))


def _patient_email(template: str, shipment, orders: list) -> None:
    """One email to the patient per parcel, however many of their orders it carries: it names each order, and the
    email links each order's status page (the links are made when it is sent, from the ids kept here)."""
    if orders:
        email_queue(template=template, to=orders[0].patient.email, order=orders[0],
                    payload={**_shipment_payload(shipment), "order_ids": [str(order.public_id) for order in orders]})


def on_shipped(*, shipment) -> None:
    """Each order in the parcel (one patient, one address, perhaps several orders) hears of it as its own: its
    platform's webhook in the order's sequence and its prescriber's email. The patient gets one email for the parcel."""
    orders = _shipment_orders(shipment)
    for order in orders:
        event_emit(order=order, type="shipment.tracking_updated",
                   data={"shipment_id": str(shipment.public_id), "carrier": shipment.carrier,
                         "tracking_number": shipment.tracking_number, "status": shipment.status})
        email_queue(template="prescriber_shipped", to=order.prescriber.user.email, order=order, payload=_shipment_payload(shipment))
    _patient_email("patient_shipped", shipment, orders)


def on_tracking(*, shipment, status: str, delivered: bool) -> None:
    orders = _shipment_orders(shipment)
    for order in orders:
        event_emit(order=order, type="shipment.tracking_updated",
                   data={"shipment_id": str(shipment.public_id), "carrier": shipment.carrier,
                         "tracking_number": shipment.tracking_number, "status": status})
    if delivered:
        _patient_email("patient_delivered", shipment, orders)
