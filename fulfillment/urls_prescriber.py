"""Prescriber pages that fulfilment serves (the printable order), under /orders/."""

from django.urls import path

from fulfillment import views_order_print

urlpatterns = [
    path("orders/<uuid:order_id>/print/", views_order_print.order_print_page, name="order-print"),
    path("orders/<uuid:order_id>/print.pdf", views_order_print.order_print_pdf, name="order-print-pdf"),
]
