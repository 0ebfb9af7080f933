from django.urls import path

from formulary import views

urlpatterns = [
    path("", views.formulary_browse, name="formulary"),
    path("stock/", views.stock, name="stock"),
    path("stock/receive/", views.stock_receive, name="stock-receive"),
    path("stock/<uuid:lot_id>/release/", views.stock_lot_action, {"action": "release"}, name="stock-lot-release"),
    path("stock/<uuid:lot_id>/quarantine/", views.stock_lot_action, {"action": "quarantine"}, name="stock-lot-quarantine"),
]
