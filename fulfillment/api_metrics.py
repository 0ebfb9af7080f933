"""GET /api/v1/metrics/?from=&to=: the metrics page's figures as JSON (pharmacists and the pharmacy admin)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment import metrics
from portal.models import Role


class IsPharmacistOrAdmin(BasePermission):
    message = "Only pharmacists and the pharmacy admin may read the pharmacy's metrics."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.role in (Role.PHARMACIST, Role.PHARMACY_ADMIN))


FIGURE = inline_serializer("MetricsFigure", {
    "title": serializers.CharField(), "about": serializers.CharField(), "columns": serializers.ListField(child=serializers.CharField()),
    "rows": serializers.ListField(child=serializers.ListField()),
    "summary": serializers.ListField(child=serializers.DictField()),
})


class Metrics(APIView):
    """Each figure as a table (columns and rows, rounded as on the page), with its headline numbers.
    Durations are in hours; `queue_age` is as of now, whatever the range."""

    permission_classes = [IsPharmacistOrAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 29 days before `to`)."),
                    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, included (default: today).")],
        responses={200: inline_serializer("Metrics", {
            "from": serializers.DateField(), "to": serializers.DateField(), "generated_at": serializers.DateTimeField(),
            "empty": serializers.BooleanField(help_text="No order signed or shipped in the range."),
            "figures": serializers.DictField(child=FIGURE)})},
    )
    def get(self, request):
        rng = metrics.metrics_range(raw_from=request.query_params.get("from", ""), raw_to=request.query_params.get("to", ""))
        figures = metrics.metrics_compute(user=request.user, rng=rng)
        figure_json = {}
        for figure in figures:
            figure_json[figure.key] = figure.as_json()
            if figure.links:
                figure_json[figure.key]["links"] = {str(row): url for row, url in figure.links.items()}
        return Response({"from": rng.start, "to": rng.end, "generated_at": timezone.now(), "empty": metrics.metrics_empty(figures),
                         "figures": figure_json})
