"""Reads of a clinic's webhook endpoints, their deliveries and its event feed, scoped to the caller:
a prescriber sees their own clinic's, a platform account the clinics the pharmacy linked it to, and
anything else is not found."""

from __future__ import annotations

from django.db.models import QuerySet

from fulfillment.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from orders.selectors import clinics_for_caller
from portal.errors import NotFound


def clinics_of(*, user) -> QuerySet:
    """The clinics whose endpoints and events the caller may see (a prescriber's one; a platform's linked ones);
    a caller with none (pharmacy staff) is refused as the rest of the clinic API refuses it."""
    return clinics_for_caller(user=user)


def clinic_of(*, user):
    """A prescriber's own clinic (the webhooks page is a prescriber's)."""
    return clinics_of(user=user).get()


def endpoint_list(*, user) -> QuerySet:
    return WebhookEndpoint.objects.filter(clinic__in=clinics_of(user=user)).select_related("clinic").order_by("-created_at")


def _one(queryset: QuerySet, what: str, **lookup):
    found = queryset.filter(**lookup).first()  # a malformed id raises ValidationError: the request guard answers 400
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


def endpoint_get(*, user, public_id) -> WebhookEndpoint:
    return _one(endpoint_list(user=user), "webhook endpoint", public_id=public_id)


def delivery_list(*, user, endpoint: WebhookEndpoint, limit: int = 200) -> list[WebhookDelivery]:
    endpoint = endpoint_get(user=user, public_id=endpoint.public_id)
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-created_at")[:limit])


def delivery_get(*, user, public_id, endpoint: WebhookEndpoint | None = None) -> WebhookDelivery:
    deliveries = WebhookDelivery.objects.filter(endpoint__clinic__in=clinics_of(user=user)).select_related("event", "endpoint")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return _one(deliveries, "delivery", public_id=public_id)


def event_feed(*, user, after: int, limit: int = 100) -> list[WebhookEvent]:
    """The caller's clinics' events after a cursor, in order, to pull what a webhook missed."""
    return list(WebhookEvent.objects.filter(clinic__in=clinics_of(user=user), id__gt=after).order_by("id")[:limit])
