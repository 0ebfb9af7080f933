"""The printable order for the prescriber's chart: a PDF of what was signed, rendered in the background.

A signed order's print is rendered once per order version by a Celery task on the `pdf` queue (like
worksheets), with the same deny-all URL fetcher, and stored privately under MEDIA_ROOT. Asking for it
queues the render at most once a minute per version; a second delivery of the message finds the file
and does nothing. It says who prescribed for whom, each preparation with its strengths, directions,
refills and exclusions, the patient's allergies, and the attestation with the time it was signed."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from django.utils import timezone

from fulfillment.documents import render_pdf
from orders.models import Order, OrderStatus
from portal.models import Pharmacy


def order_print_name(order: Order) -> str:
    return f"order-prints/{order.public_id}-v{order.version}.pdf"


def order_print_ready(order: Order) -> bool:
    return default_storage.exists(order_print_name(order))


def order_print_context(order: Order) -> dict:
    from formulary.models import AllergenGroup

    groups = dict(AllergenGroup.objects.values_list("code", "name"))
    preparations = []
    for prep in order.preparations.all():
        exclusions = prep.exclusions or {}
        excluded = [groups.get(code, code) for code in exclusions.get("allergen_groups", [])]
        if exclusions.get("preservative_free"):
            excluded.append("Preservatives (preservative-free)")
        preparations.append({"prep": prep, "excluded": excluded})
    pharmacy = Pharmacy.objects.order_by("pk").first()
    return {"order": order, "patient": order.patient, "prescriber": order.prescriber, "preparations": preparations,
            "allergies": [g.name for g in order.patient.allergies.all()] if order.patient else [],
            "pharmacy": pharmacy, "printed_at": timezone.now()}


def order_print_pdf(order: Order) -> bytes:
    pdf, _refused = render_pdf(render_to_string("fulfillment/order_pdf.html", order_print_context(order)))
    return pdf


def order_print_render(*, order_id: int) -> str | None:
    """Render and store the current version's print (idempotent: an existing file is kept)."""
    order = (Order.objects.select_related("patient", "prescriber__user", "prescriber__clinic", "signed_by")
             .filter(pk=order_id).exclude(status=OrderStatus.DRAFT).first())
    if order is None or order.signed_at is None:
        return None
    name = order_print_name(order)
    if default_storage.exists(name):
        return name
    return default_storage.save(name, ContentFile(order_print_pdf(order)))
