from django.urls import path

from formulary import views_mfrs

urlpatterns = [
    path("", views_mfrs.mfr_library, name="mfr-library"),
    path("<uuid:mfr_id>/", views_mfrs.mfr_detail, name="mfr"),
    path("<uuid:mfr_id>/print/", views_mfrs.mfr_print, name="mfr-print"),
    path("<uuid:mfr_id>/compare/<uuid:other_id>/", views_mfrs.mfr_compare, name="mfr-compare"),
] + [
    path(f"<uuid:mfr_id>/{action}/", views_mfrs.mfr_act, {"action": action}, name=f"mfr-{action}")
    for action in ("approve", "retire", "revise", "edit", "review")
]
