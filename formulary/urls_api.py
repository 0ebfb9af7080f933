from django.urls import path

from formulary import api

urlpatterns = [
    path("ingredients/", api.IngredientList.as_view(), name="api-ingredients"),
    path("bases/", api.BaseList.as_view(), name="api-bases"),
    path("allergen-groups/", api.AllergenGroupList.as_view(), name="api-allergen-groups"),
    path("lots/", api.StockLotList.as_view(), name="api-lots"),
    path("lots/<uuid:lot_id>/release/", api.StockLotRelease.as_view(), name="api-lot-release"),
    path("lots/<uuid:lot_id>/quarantine/", api.StockLotQuarantine.as_view(), name="api-lot-quarantine"),
]
