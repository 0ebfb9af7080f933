from django.urls import path

from orders import api

urlpatterns = [
    path("validate/", api.OrderValidateView.as_view(), name="api-orders-validate"),
]
