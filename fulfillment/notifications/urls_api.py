from django.urls import path

from fulfillment.notifications import api

urlpatterns = [
    path("webhooks/", api.WebhookList.as_view(), name="api-webhooks"),
    path("webhooks/<uuid:endpoint_id>/", api.WebhookDetail.as_view(), name="api-webhook"),
    path("webhooks/<uuid:endpoint_id>/deliveries/", api.WebhookDeliveries.as_view(), name="api-webhook-deliveries"),
    path("webhooks/deliveries/<uuid:delivery_id>/redeliver/", api.WebhookRedeliver.as_view(), name="api-webhook-redeliver"),
    path("events/", api.EventFeed.as_view(), name="api-events"),
]
