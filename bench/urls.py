from django.urls import path

from bench import api

urlpatterns = [
    path("bare/", api.BareInsert.as_view(), name="api-bench-bare"),
]
