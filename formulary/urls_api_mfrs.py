from django.urls import path

from formulary import api_mfrs

urlpatterns = [
    path("", api_mfrs.MfrList.as_view(), name="api-mfrs"),
    path("<uuid:mfr_id>/", api_mfrs.MfrDetail.as_view(), name="api-mfr"),
    path("<uuid:mfr_id>/approve/", api_mfrs.MfrApprove.as_view(), name="api-mfr-approve"),
    path("<uuid:mfr_id>/retire/", api_mfrs.MfrRetire.as_view(), name="api-mfr-retire"),
    path("<uuid:mfr_id>/revise/", api_mfrs.MfrRevise.as_view(), name="api-mfr-revise"),
]
