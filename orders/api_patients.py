"""Patients over the API, scoped to the caller's clinic (anything else is 404)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.models import Patient, Sex
from portal import api_examples
from portal.audit import record_access
from portal.states import USState


class AllergyCodesField(serializers.ListField):
    """Allergen group codes in, the patient's groups' codes out."""

    child = serializers.CharField(max_length=40)

    def to_representation(self, groups):
        return [group.code for group in groups.all()]


class PatientSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    allergies = AllergyCodesField(max_length=30, required=False)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    state = serializers.ChoiceField(choices=USState.choices)
    prescriber_npi = serializers.CharField(max_length=10, required=False, allow_blank=True, write_only=True,
                                           help_text="A platform account: the NPI of a prescriber of the clinic the patient "
                                                     "belongs to (a prescriber's token leaves it out).")

    class Meta:
        model = Patient
        fields = ["id", "external_id", "first_name", "last_name", "date_of_birth", "sex", "email", "phone", "address_line1",
                  "address_line2", "city", "state", "postal_code", "allergies", "notes", "created_at", "prescriber_npi"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"notes": {"max_length": 2000}}


class PatientListCreate(generics.ListAPIView):
    """The clinic's patients. `search` matches names or a date of birth (YYYY-MM-DD)."""

    serializer_class = PatientSerializer

    @extend_schema(parameters=[OpenApiParameter("search", OpenApiTypes.STR)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.patient_list(user=self.request.user, search=self.request.query_params.get("search", "")[:100])

    @extend_schema(request=PatientSerializer, responses={201: PatientSerializer}, examples=[api_examples.PATIENT])
    def post(self, request):
        body = PatientSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        prescriber = services.prescriber_of(request.user, prescriber_npi=data.pop("prescriber_npi", "") or None)
        patient = services.patient_create(prescriber=prescriber, data=data)
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)


class PatientDetail(APIView):
    @extend_schema(responses={200: PatientSerializer})
    def get(self, request, patient_id):
        patient = selectors.patient_get(user=request.user, public_id=patient_id)
        record_access(request, object_type="patient", object_id=patient.public_id, patient_id=patient.pk)
        return Response(PatientSerializer(patient).data)
