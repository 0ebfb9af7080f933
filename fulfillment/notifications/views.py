"""The clinic's webhook endpoints, in the portal: add (the secret is shown once), remove, see deliveries, redeliver."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from fulfillment.models import PayloadFormat
from fulfillment.notifications import outbox, selectors, webhooks
from portal.access import prescriber_required
from portal.errors import ServiceError


@prescriber_required
def webhooks_page(request):
    clinic = selectors.clinic_of(user=request.user)
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
    return render(request, "fulfillment/webhooks.html", {"endpoints": selectors.endpoint_list(user=request.user),
                                                         "event_types": webhooks.EVENT_TYPES, "secret": secret,
                                                         "payload_formats": PayloadFormat.choices})


@prescriber_required
def webhook_page(request, endpoint_id):
    endpoint = selectors.endpoint_get(user=request.user, public_id=endpoint_id)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            webhooks.endpoint_delete(endpoint=endpoint)
            messages.success(request, "Endpoint removed.")
            return redirect("webhooks")
        delivery = selectors.delivery_get(user=request.user, public_id=request.POST.get("delivery", ""), endpoint=endpoint)
        outbox.delivery_redeliver(delivery=delivery)
        messages.success(request, "Sent again.")
        return redirect("webhook", endpoint_id=endpoint.public_id)
    return render(request, "fulfillment/webhook.html", {"endpoint": endpoint,
                                                        "deliveries": selectors.delivery_list(user=request.user, endpoint=endpoint)})
