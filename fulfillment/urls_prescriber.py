"""Prescriber pages that fulfilment serves: the printable order; a preparation's refills (also for the pharmacy); renewals."""

from django.urls import path

from fulfillment import views_order_print, views_refills

urlpatterns = [
    path("orders/<uuid:order_id>/print/", views_order_print.order_print_page, name="order-print"),
    path("orders/<uuid:order_id>/print.pdf", views_order_print.order_print_pdf, name="order-print-pdf"),
    path("preparations/<uuid:preparation_id>/", views_refills.preparation_page, name="preparation"),
    path("preparations/<uuid:preparation_id>/refill/", views_refills.preparation_refill, name="preparation-refill"),
    path("preparations/<uuid:preparation_id>/renewal/", views_refills.preparation_renewal, name="preparation-renewal"),
] + [
    path(f"renewals/<uuid:renewal_id>/{action}/", views_refills.renewal_decide, {"action": action}, name=f"renewal-{action}")
    for action in ("approve", "change", "deny")
]
