"""The clinic's webhook endpoints, in the portal: add (the secret is shown once), remove, see deliveries, redeliver."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from fulfillment.notifications import webhooks
from fulfillment.models import PayloadFormat, WebhookDelivery
from fulfillment.notifications.outbox import EVENT_TYPES
from orders.validation import prescriber_for_caller
from portal.access import prescriber_required
from portal.errors import NotFound, ServiceError


@prescriber_required
def webhooks_page(request):
    clinic = prescriber_for_caller(user=request.user, prescriber_npi=None).clinic
    secret = None
    if request.method == "POST":
        try:
            endpoint = webhooks.endpoint_create(clinic=clinic, by=request.user, url=request.POST.get("url", ""),
                                                event_types=request.POST.getlist("event_types"),
                                                description=request.POST.get("description", ""),
                                                payload_format=request.POST.get("payload_format", PayloadFormat.JSON))
        except ServiceError as exc:
            for field, problems in exc.fields.items():
                for problem in problems:
                    messages.error(request, f"{field.replace('_', ' ')}: {problem}")
        else:
            secret = endpoint.secret
            messages.success(request, "Endpoint added. Copy its signing secret now: it is not shown again.")
    return render(request, "fulfillment/webhooks.html", {"endpoints": clinic.webhook_endpoints.order_by("-created_at"),
                                                         "event_types": EVENT_TYPES, "secret": secret,
                                                         "payload_formats": PayloadFormat.choices})


@prescriber_required
def webhook_page(request, endpoint_id):
    clinic = prescriber_for_caller(user=request.user, prescriber_npi=None).clinic
    endpoint = webhooks.endpoint_get(clinic=clinic, public_id=endpoint_id)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            endpoint.delete()
            messages.success(request, "Endpoint removed.")
            return redirect("webhooks")
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint, public_id=request.POST.get("delivery", "")).first()
        if delivery is None:
            raise NotFound("No such delivery.")
        webhooks.delivery_redeliver(delivery=delivery)
        messages.success(request, "Sent again.")
        return redirect("webhook", endpoint_id=endpoint.public_id)
    return render(request, "fulfillment/webhook.html", {"endpoint": endpoint, "deliveries": endpoint.deliveries.select_related("event")[:200]})
