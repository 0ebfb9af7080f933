from django.urls import path

from orders import views

urlpatterns = [
    path("orders/", views.order_list_page, name="orders"),
    path("orders/new/", views.order_new, name="order-new"),
    path("orders/ingredients/", views.ingredient_search, name="ingredient-search"),
    path("orders/<uuid:order_id>/", views.order_detail, name="order-detail"),
    path("orders/<uuid:order_id>/edit/", views.order_edit, name="order-edit"),
    path("orders/<uuid:order_id>/review/", views.order_review, name="order-review"),
    path("orders/<uuid:order_id>/cancel/", views.order_cancel, name="order-cancel"),
    path("orders/<uuid:order_id>/rush/", views.order_rush, name="order-rush"),
    path("orders/<uuid:order_id>/answer/", views.order_answer, name="order-answer"),
    path("orders/<uuid:order_id>/amend/", views.order_amend, name="order-amend"),
    path("orders/<uuid:order_id>/reorder/", views.order_reorder, name="order-reorder"),
    path("orders/<uuid:order_id>/discard/", views.order_discard, name="order-discard"),
    path("orders/<uuid:order_id>/patient-link/revoke/", views.order_patient_link, {"action": "revoke"}, name="order-link-revoke"),
    path("orders/<uuid:order_id>/patient-link/reissue/", views.order_patient_link, {"action": "reissue"}, name="order-link-reissue"),
    path("patients/", views.patient_list_page, name="patients"),
    path("patients/new/", views.patient_form_page, name="patient-new"),
    path("patients/<uuid:patient_id>/", views.patient_page, name="patient-page"),
    path("patients/<uuid:patient_id>/edit/", views.patient_form_page, name="patient-edit"),
    path("favourites/", views.favourites_page, name="favourites"),
    path("favourites/<uuid:favourite_id>/rename/", views.favourite_change, {"action": "rename"}, name="favourite-rename"),
    path("favourites/<uuid:favourite_id>/delete/", views.favourite_change, {"action": "delete"}, name="favourite-delete"),
]
