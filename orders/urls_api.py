from django.urls import path

from orders import api_orders, api_patients, api_validate

urlpatterns = [
    path("orders/validate/", api_validate.OrderValidateView.as_view(), name="api-orders-validate"),
    path("orders/", api_orders.OrderListCreate.as_view(), name="api-orders"),
    path("orders/<uuid:order_id>/", api_orders.OrderDetail.as_view(), name="api-order"),
    path("orders/<uuid:order_id>/cancel/", api_orders.OrderCancel.as_view(), name="api-order-cancel"),
    path("orders/<uuid:order_id>/amend/", api_orders.OrderAmend.as_view(), name="api-order-amend"),
    path("orders/<uuid:order_id>/rush/", api_orders.OrderRushRequest.as_view(), name="api-order-rush"),
    path("orders/<uuid:order_id>/events/", api_orders.OrderEvents.as_view(), name="api-order-events"),
    path("patients/", api_patients.PatientListCreate.as_view(), name="api-patients"),
    path("patients/<uuid:patient_id>/", api_patients.PatientDetail.as_view(), name="api-patient"),
]
