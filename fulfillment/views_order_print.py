"""The prescriber's printable order: a page that waits for the background render, then the PDF."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.shortcuts import render

from fulfillment import order_print, services
from fulfillment.downloads import pdf_response
from orders import selectors
from orders.models import OrderStatus
from portal.access import prescriber_required
from portal.audit import record_access
from portal.errors import NotFound
from portal.models import AccessAction


def _signed_order(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    if order.status == OrderStatus.DRAFT or order.signed_at is None:
        raise NotFound("A draft has nothing signed to print yet.")
    return order


@prescriber_required
def order_print_page(request, order_id):
    order = _signed_order(request, order_id)
    ready = services.order_print_request(order)
    template = "fulfillment/_order_print_status.html" if request.headers.get("HX-Request") else "fulfillment/order_print.html"
    return render(request, template, {"order": order, "ready": ready})


@prescriber_required
def order_print_pdf(request, order_id):
    order = _signed_order(request, order_id)
    if not order_print.order_print_ready(order):
        raise NotFound("The printable order is still being prepared.")
    record_access(request, object_type="order_print", object_id=f"{order.public_id} v{order.version}", patient_id=order.patient_id,
                  action=AccessAction.DOWNLOAD)
    with default_storage.open(order_print.order_print_name(order), "rb") as handle:
        return pdf_response(handle.read(), f"order-{order.number}.pdf")
