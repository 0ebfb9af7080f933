"""The clinic's webhook endpoints, in the portal (a prescriber's pages)."""

from django.urls import path

from fulfillment.notifications import views

urlpatterns = [
    path("webhooks/", views.webhooks_page, name="webhooks"),
    path("webhooks/<uuid:endpoint_id>/", views.webhook_page, name="webhook"),
]
