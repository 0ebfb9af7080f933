"""Master formulation records through the API (pharmacy staff): list and read; a pharmacist approves, retires,
revises, or completes a draft. The pages call the same services."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from formulary import mfrs, selectors
from formulary.models import MasterFormulationRecord, MfrStatus
from portal.access import IsPharmacyStaff


def _person(user) -> dict | None:
    return None if user is None else {"username": user.username, "name": user.get_full_name() or user.username}


class MfrSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    approved_by = serializers.SerializerMethodField()
    retired_by = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    target_ph = serializers.FloatField(allow_null=True)
    missing = serializers.SerializerMethodField(help_text="For a draft: what a pharmacist must fill before approving, in words.")

    class Meta:
        model = MasterFormulationRecord
        fields = ["id", "code", "version", "status", "name", "strength", "dosage_form", "route", "target_ph", "quantity_unit",
                  "identity", "components", "container_closure", "equipment", "steps", "calculations", "physical_description",
                  "beyond_use_days", "storage", "storage_text", "bud_source", "labelling", "qc", "rules_version", "notes",
                  "needs_review", "review_reason", "proposed_from", "created_by", "created_at", "approved_by", "approved_at",
                  "retired_by", "retired_at", "missing"]

    def get_approved_by(self, mfr) -> dict | None:
        return _person(mfr.approved_by)

    def get_retired_by(self, mfr) -> dict | None:
        return _person(mfr.retired_by)

    def get_created_by(self, mfr) -> dict | None:
        return _person(mfr.created_by)

    def get_missing(self, mfr) -> dict:
        from formulary.mfr_content import missing_fields

        return missing_fields(mfr) if mfr.status == MfrStatus.DRAFT else {}


class MfrSummarySerializer(MfrSerializer):
    class Meta(MfrSerializer.Meta):
        fields = ["id", "code", "version", "status", "name", "strength", "dosage_form", "route", "beyond_use_days", "storage",
                  "needs_review", "review_reason", "approved_by", "approved_at", "created_at"]


@extend_schema(parameters=[
    OpenApiParameter("ingredient", OpenApiTypes.STR, description="A material or base code, or part of a name."),
    OpenApiParameter("status", OpenApiTypes.STR, enum=MfrStatus.values),
    OpenApiParameter("needs_review", OpenApiTypes.BOOL),
])
class MfrList(generics.ListAPIView):
    """Master formulation records, newest formulation first."""

    permission_classes = [IsPharmacyStaff]
    serializer_class = MfrSummarySerializer

    def get_queryset(self):
        params = self.request.query_params
        status = params.get("status", "")
        if status and status not in MfrStatus.values:
            raise serializers.ValidationError({"status": [f"Unknown status {status[:30]!r}: one of {', '.join(MfrStatus.values)}."]})
        review = params.get("needs_review", "")
        if review not in ("", "true", "false", "1", "0"):
            raise serializers.ValidationError({"needs_review": ["true or false."]})
        return selectors.mfr_list(ingredient=params.get("ingredient", "")[:100], status=status,
                                  needs_review=None if review == "" else review in ("true", "1"))


class MfrDetail(APIView):
    permission_classes = [IsPharmacyStaff]

    @extend_schema(responses={200: MfrSerializer})
    def get(self, request, mfr_id):
        return Response(MfrSerializer(selectors.mfr_get(public_id=mfr_id)).data)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: MfrSerializer},
                   description="A pharmacist completes a draft: container_closure, equipment, steps (a list of lines), "
                               "physical_description, bud_source, labelling, notes. An approved version answers 409.")
    def patch(self, request, mfr_id):
        mfr = selectors.mfr_get(public_id=mfr_id)
        data = request.data if isinstance(request.data, dict) else {}
        return Response(MfrSerializer(mfrs.mfr_update(mfr=mfr, by=request.user, data=dict(data))).data)


class _MfrAction(APIView):
    permission_classes = [IsPharmacyStaff]
    service = None

    @extend_schema(request=None, responses={200: MfrSerializer})
    def post(self, request, mfr_id):
        mfr = selectors.mfr_get(public_id=mfr_id)
        return Response(MfrSerializer(type(self).service(mfr=mfr, by=request.user)).data)


class MfrApprove(_MfrAction):
    """A pharmacist approves a complete draft; refused (422) naming each missing field, (403) for anyone else."""

    service = staticmethod(mfrs.mfr_approve)


class MfrRetire(_MfrAction):
    service = staticmethod(mfrs.mfr_retire)


class MfrRevise(_MfrAction):
    """A new draft version copied from this one (an approved version is never edited)."""

    service = staticmethod(mfrs.mfr_revise)
