"""The clinic's webhook endpoints, in the portal: add (the secret is shown once), remove, see deliveries, redeliver."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from fulfillment.models import PayloadFormat
from fulfillment.notifications import outbox, selectors, webhooks
from portal.access import prescriber_required
from portal.errors import NotFound, ServiceError
from portal.form_input import FormInput, form_input_checked


@form_input_checked
@prescriber_required
def webhooks_page(request):
    clinic = selectors.clinic_of(user=request.user)
    secret = None
    errors, values = {}, {"event_types": list(webhooks.EVENT_TYPES), "payload_format": PayloadFormat.JSON}
    if request.method == "POST":
        checked = FormInput(request.POST, request)
        url = checked.text("url", max_length=500)
        event_types = checked.texts("event_types")
        payload_format = checked.choice("payload_format", PayloadFormat.values, default=PayloadFormat.JSON)
        description = checked.text("description", max_length=200)
        values, errors = checked.values, dict(checked.errors)
        if checked.ok:
            try:
                endpoint = webhooks.endpoint_create(clinic=clinic, by=request.user, url=url, event_types=event_types,
                                                    description=description, payload_format=payload_format)
            except ServiceError as exc:  # the address policy, the events, the limit: beside the field they concern
                errors = {field: " ".join(problems) for field, problems in exc.fields.items()}
                if exc.status == 409 or not errors:  # the clinic's limit: the whole sentence, with what to do
                    errors = {"url": exc.message}
            else:
                secret = endpoint.secret
                values = {"event_types": list(webhooks.EVENT_TYPES), "payload_format": PayloadFormat.JSON}
                messages.success(request, "Endpoint added. Copy its signing secret now: it is not shown again.")
    return render(request, "fulfillment/webhooks.html", {"endpoints": selectors.endpoint_list(user=request.user),
                                                         "event_types": webhooks.EVENT_TYPES, "secret": secret,
                                                         "payload_formats": PayloadFormat.choices, "errors": errors, "values": values})


@form_input_checked
@prescriber_required
def webhook_page(request, endpoint_id):
    endpoint = selectors.endpoint_get(user=request.user, public_id=endpoint_id)
    error = ""
    if request.method == "POST":
        checked = FormInput(request.POST, request)
        action = checked.choice("action", ("delete", "redeliver"), default="redeliver")
        delivery_id = checked.public_id("delivery")
        if action == "delete" and checked.ok:
            webhooks.endpoint_delete(endpoint=endpoint)
            messages.success(request, "Endpoint removed.")
            return redirect("webhooks")
        try:
            delivery = selectors.delivery_get(user=request.user, public_id=delivery_id, endpoint=endpoint) if delivery_id else None
        except NotFound:
            delivery = None
        if delivery is not None and checked.ok:
            outbox.delivery_redeliver(delivery=delivery)
            messages.success(request, "Sent again.")
            return redirect("webhook", endpoint_id=endpoint.public_id)
        error = ("Nothing was sent: the delivery asked for is not one of this endpoint's (the form was changed, or the list is "
                 "out of date). Choose Redeliver on a row of the list below.")
    return render(request, "fulfillment/webhook.html", {"endpoint": endpoint,
                                                        "deliveries": selectors.delivery_list(user=request.user, endpoint=endpoint),
                                                        "error": error})
