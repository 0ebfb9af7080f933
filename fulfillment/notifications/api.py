"""Webhook endpoints, their delivery logs, and the event feed, for the clinic's prescribers and for the telehealth
platform accounts linked to the clinic (a platform linked to several clinics names the clinic of a new endpoint)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment.models import PayloadFormat
from fulfillment.notifications import outbox, selectors, webhooks
from fulfillment.notifications.webhooks import EVENT_TYPES
from portal import api_examples
from portal.errors import Forbidden


class EndpointIn(serializers.Serializer):
    url = serializers.CharField(max_length=500)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES), min_length=1, max_length=len(EVENT_TYPES))
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    payload_format = serializers.ChoiceField(choices=PayloadFormat.choices, required=False, default=PayloadFormat.JSON,
                                             help_text="fhir: each delivery carries the changed Task and MedicationDispense "
                                                       "(docs/fhir.md).")
    clinic = serializers.UUIDField(required=False, allow_null=True, default=None,
                                   help_text="A platform account linked to several clinics: the clinic whose events the endpoint "
                                             "hears (its id, as listed with each endpoint). Otherwise leave it out.")


class EndpointOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    payload_format = serializers.CharField()
    active = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    clinic = serializers.UUIDField(source="clinic.public_id")
    clinic_name = serializers.CharField(source="clinic.name")


class DeliveryOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    next_attempt_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


def _clinic_for_new_endpoint(user, chosen):
    clinics = list(selectors.clinics_of(user=user))
    if chosen is not None:
        clinic = next((c for c in clinics if c.public_id == chosen), None)
        if clinic is None:
            raise serializers.ValidationError({"clinic": ["You do not act for this clinic: choose one of the clinics you are linked to."]})
        return clinic
    if not clinics:
        raise Forbidden("This platform account acts for no clinic yet: the pharmacy links it to the clinics it serves.")
    if len(clinics) > 1:
        names = ", ".join(f"{c.name} ({c.public_id})" for c in clinics)
        raise serializers.ValidationError({"clinic": [f"You act for several clinics: name the one this endpoint is for ({names})."]})
    return clinics[0]


class WebhookList(APIView):
    @extend_schema(responses={200: EndpointOut(many=True)})
    def get(self, request):
        return Response(EndpointOut(selectors.endpoint_list(user=request.user), many=True).data)

    @extend_schema(request=EndpointIn, responses={201: OpenApiTypes.OBJECT}, examples=[api_examples.WEBHOOK])
    def post(self, request):
        body = EndpointIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        clinic = _clinic_for_new_endpoint(request.user, data.pop("clinic"))
        endpoint = webhooks.endpoint_create(clinic=clinic, by=request.user, **data)
        return Response({**EndpointOut(endpoint).data, "secret": endpoint.secret}, status=201)  # the only time it is shown


class WebhookDetail(APIView):
    @extend_schema(responses={200: EndpointOut})
    def get(self, request, endpoint_id):
        return Response(EndpointOut(selectors.endpoint_get(user=request.user, public_id=endpoint_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id):
        webhooks.endpoint_delete(endpoint=selectors.endpoint_get(user=request.user, public_id=endpoint_id))
        return Response(status=204)


class WebhookDeliveries(APIView):
    @extend_schema(responses={200: DeliveryOut(many=True)})
    def get(self, request, endpoint_id):
        endpoint = selectors.endpoint_get(user=request.user, public_id=endpoint_id)
        return Response(DeliveryOut(selectors.delivery_list(user=request.user, endpoint=endpoint), many=True).data)


class WebhookRedeliver(APIView):
    @extend_schema(request=None, responses={202: DeliveryOut})
    def post(self, request, delivery_id):
        delivery = selectors.delivery_get(user=request.user, public_id=delivery_id)
        return Response(DeliveryOut(outbox.delivery_redeliver(delivery=delivery)).data, status=202)


@extend_schema(parameters=[OpenApiParameter("after", OpenApiTypes.STR, description="The next_cursor of the previous page.")],
               responses={200: OpenApiTypes.OBJECT})
class EventFeed(APIView):
    """The clinic's events in order (a platform's: its linked clinics'), to pull what a webhook missed."""

    def get(self, request):
        raw = request.query_params.get("after", "0") or "0"
        if not raw.isdigit() or len(raw) > 18:
            raise serializers.ValidationError({"after": ["Use the next_cursor you were given."]})
        events = selectors.event_feed(user=request.user, after=int(raw))
        return Response({"events": [e.payload for e in events], "next_cursor": str(events[-1].id) if events else raw})
