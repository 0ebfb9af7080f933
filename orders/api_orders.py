"""Orders over the API (list, create, read, cancel, events), scoped to the caller's clinic (anything else is 404).
The order body's shape and the validate endpoint are in api_validate; patients in api_patients."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from formulary.rules_facts_builder import formulary_facts
from orders import selectors, services
from orders.api_validate import OrderBodySerializer
from orders.idempotency import body_hash, idempotent, record_done
from orders.models import Order, OrderStatus, RushStatus, Source
from orders.presentation import titled
from portal import api_examples
from portal.audit import record_access
from portal.errors import ServiceError
from portal.pagination import NewestFirstCursor


# --- The answer built directly --------------------------------------------------------------------------------
# The serializers below declare the answer (its schema, its documentation); their to_representation builds it from
# the row in plain Python with the same keys, order and values as DRF's field-by-field walk, which cost the list of
# 50 orders (150 preparations, ~30 fields each) about half its time. tests/orders/test_order_answer.py holds the two
# equal on every kind of order the API answers with.

def _text(value):
    return None if value is None else str(value)


def _int(value):
    return None if value is None else int(value)


def _float(value):
    return None if value is None else float(value)


def _day(value):
    if not value:
        return None
    return value if isinstance(value, str) else value.isoformat()  # DRF's DateField: ISO 8601, text as it is, None when empty


_DATETIME = serializers.DateTimeField()  # ISO 8601 in the current time zone, "Z" for UTC: DRF's own formatting


def _moment(value):
    return None if value is None else _DATETIME.to_representation(value)


def _mapping(value):
    return None if value is None else {str(key): item for key, item in value.items()}  # DictField: keys as text


def _mappings(values):
    return None if values is None else [None if item is None else _mapping(item) for item in values]


class OrderPatientSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    external_id = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    date_of_birth = serializers.DateField()


class PreparationOutSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    position = serializers.IntegerField()
    status = serializers.CharField()
    base = serializers.CharField(source="base_code")
    base_name = serializers.CharField()
    quantity = serializers.FloatField()
    unit = serializers.CharField()
    route = serializers.CharField()
    target_ph = serializers.FloatField(allow_null=True)
    directions = serializers.CharField()
    refills = serializers.IntegerField()
    refills_remaining = serializers.IntegerField()
    refill_interval_days = serializers.IntegerField(allow_null=True)
    auto_refill_paused = serializers.BooleanField()
    exclusions = serializers.DictField()
    ingredients = serializers.ListField(child=serializers.DictField())
    beyond_use_days = serializers.IntegerField(help_text="The USP <795> table's period.")
    assigned_beyond_use_days = serializers.IntegerField(source="assigned_bud_days", allow_null=True,
                                                        help_text="A pharmacist's period, when one was assigned at verification.")
    beyond_use_citation = serializers.CharField(source="bud_citation", help_text="What supports the pharmacist's period.")
    storage = serializers.CharField()
    findings = serializers.SerializerMethodField()
    aqueous = serializers.SerializerMethodField()
    preserved = serializers.SerializerMethodField()
    substances = serializers.SerializerMethodField()
    mfr = serializers.SerializerMethodField(help_text="The master formulation record it follows: {id, code, version, status}; "
                                                      "a draft blocks the order's approval until a pharmacist approves it.")

    def get_mfr(self, p) -> dict | None:
        if p.mfr is None:
            return None
        return {"id": str(p.mfr.public_id), "code": p.mfr.code, "version": p.mfr.version, "status": p.mfr.status}

    @staticmethod
    def _checked(p) -> dict:
        """The snapshot as the list reads it (orders.selectors.order_list_api: only the keys shown), or whole."""
        shown = p.__dict__.get("checked_shown")
        return p.checked if shown is None else shown

    def get_findings(self, p) -> list[dict]:
        return titled(self._checked(p).get("findings", []))

    def get_aqueous(self, p) -> bool:
        return self._checked(p).get("aqueous")

    def get_preserved(self, p) -> bool:
        return self._checked(p).get("preserved")

    def get_substances(self, p) -> list[dict]:
        return self._checked(p).get("substances", [])

    def to_representation(self, p) -> dict:
        checked = self._checked(p)
        return {
            "id": _text(p.public_id), "position": _int(p.position), "status": _text(p.status), "base": _text(p.base_code),
            "base_name": _text(p.base_name), "quantity": _float(p.quantity), "unit": _text(p.unit), "route": _text(p.route),
            "target_ph": _float(p.target_ph), "directions": _text(p.directions), "refills": _int(p.refills),
            "refills_remaining": _int(p.refills_remaining), "refill_interval_days": _int(p.refill_interval_days),
            "auto_refill_paused": None if p.auto_refill_paused is None else bool(p.auto_refill_paused),
            "exclusions": _mapping(p.exclusions), "ingredients": _mappings(p.ingredients),
            "beyond_use_days": _int(p.beyond_use_days),
            "assigned_beyond_use_days": _int(p.assigned_bud_days), "beyond_use_citation": _text(p.bud_citation),
            "storage": _text(p.storage), "findings": titled(checked.get("findings", [])), "aqueous": checked.get("aqueous"),
            "preserved": checked.get("preserved"), "substances": checked.get("substances", []), "mfr": self.get_mfr(p),
        }


class RushSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RushStatus.choices)
    reason = serializers.CharField(help_text="Why the prescriber asked for rush.")
    answer = serializers.CharField(help_text="Why the pharmacist declined it.")


class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    number = serializers.CharField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    external_id = serializers.CharField()
    source = serializers.CharField()
    patient = OrderPatientSerializer(allow_null=True)
    prescriber_npi = serializers.CharField(source="prescriber.npi")
    ship_to = serializers.SerializerMethodField()
    encounter_state = serializers.CharField()
    clinical_difference_note = serializers.CharField()
    rules_version = serializers.CharField()
    signed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    preparations = PreparationOutSerializer(many=True)
    patient_status_url = serializers.SerializerMethodField()
    promised_ship_date = serializers.DateField(allow_null=True, help_text="The ship date promised when the order was signed (or when "
                                               "a rush was accepted); business days, after the pharmacy's daily cut-off.")
    promised_delivery_date = serializers.DateField(allow_null=True)
    estimated_delivery_date = serializers.DateField(allow_null=True, help_text="The promise until the order ships; then the carrier's "
                                                    "estimate.")
    rush = serializers.SerializerMethodField()

    @extend_schema_field(RushSerializer)
    def get_rush(self, order) -> dict:
        return {"status": order.rush, "reason": order.rush_reason, "answer": order.rush_answer}

    def get_patient_status_url(self, order) -> str | None:
        """The patient's status link, for the clinic to send its own way (after approval)."""
        from orders.patient_links import link_url, patient_link_current

        live = getattr(order, "live_links", None)  # prefetched by the list
        link = (live[0] if live else None) if live is not None else patient_link_current(order=order)
        return link_url(link) if link else None

    def get_ship_to(self, order) -> dict:
        return {"line1": order.ship_to_line1, "line2": order.ship_to_line2, "city": order.ship_to_city,
                "state": order.ship_to_state, "postal_code": order.ship_to_postal_code}

    def to_representation(self, order) -> dict:
        patient, preparation = order.patient, self.fields["preparations"].child
        return {
            "id": _text(order.public_id), "number": _text(order.number), "status": _text(order.status),
            "version": _int(order.version),
            "external_id": _text(order.external_id), "source": _text(order.source),
            "patient": None if patient is None else {
                "id": _text(patient.public_id), "external_id": _text(patient.external_id),
                "first_name": _text(patient.first_name),
                "last_name": _text(patient.last_name), "date_of_birth": _day(patient.date_of_birth)},
            "prescriber_npi": _text(order.prescriber.npi), "ship_to": self.get_ship_to(order),
            "encounter_state": _text(order.encounter_state), "clinical_difference_note": _text(order.clinical_difference_note),
            "rules_version": _text(order.rules_version), "signed_at": _moment(order.signed_at),
            "created_at": _moment(order.created_at),
            "preparations": [preparation.to_representation(p) for p in order.preparations.all()],
            "patient_status_url": self.get_patient_status_url(order), "promised_ship_date": _day(order.promised_ship_date),
            "promised_delivery_date": _day(order.promised_delivery_date),
            "estimated_delivery_date": _day(order.estimated_delivery_date),
            "rush": self.get_rush(order),
        }


class PreconditionFailed(ServiceError):
    status = 412
    code = "precondition_failed"


def etag(order: Order) -> str:
    return f'W/"{order.public_id}.{order.version}"'


def check_if_match(request, order: Order) -> None:
    """A change sent with If-Match applies only to the version the caller last saw (412 otherwise)."""
    header = request.headers.get("If-Match", "").strip()
    if header and header != "*" and etag(order) not in [part.strip() for part in header.split(",")]:
        raise PreconditionFailed(f"Order {order.number} changed since you read it (now version {order.version}); read it again.")


def order_response(order: Order, *, user, status: int = 200) -> Response:
    answer = _order_json(order, user)  # re-reads the order once: the change just moved its status and version
    response = Response(answer, status=status)
    response["ETag"] = f'W/"{answer["id"]}.{answer["version"]}"'
    return response


def _order_json(order: Order, user) -> dict:
    return OrderSerializer(selectors.order_get(user=user, public_id=order.public_id)).data


@extend_schema(parameters=[
    OpenApiParameter("status", OpenApiTypes.STR, enum=OrderStatus.values),
    OpenApiParameter("patient", OpenApiTypes.UUID),
    OpenApiParameter("external_id", OpenApiTypes.STR),
])
class OrderListCreate(generics.ListAPIView):
    """The clinic's orders, newest first, by cursor (`next`). POST signs and submits an order (Idempotency-Key required)."""

    serializer_class = OrderSerializer
    pagination_class = NewestFirstCursor

    def get_queryset(self):
        params = self.request.query_params
        status_filter = params.get("status", "")
        if status_filter and status_filter not in OrderStatus.values:
            raise serializers.ValidationError({"status": [f"Unknown status {status_filter!r}."]})
        patient = selectors.patient_get(user=self.request.user, public_id=params["patient"]) if params.get("patient") else None
        return selectors.order_list_api(user=self.request.user, status=status_filter, patient=patient,
                                        external_id=params.get("external_id", ""), include_drafts=False)

    @extend_schema(
        request=OrderBodySerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)],
        responses={201: OrderSerializer},
        examples=[api_examples.ORDER],
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 255:
            raise ServiceError("Send an Idempotency-Key header (up to 255 characters) with every new order.",
                               code="idempotency_key_required", fields={"Idempotency-Key": ["This header is required."]})
        facts = formulary_facts()
        body = OrderBodySerializer(data=request.data, context={"facts": facts})
        body.is_valid(raise_exception=True)

        def work(record):
            with transaction.atomic():
                order = services.order_submit(user=request.user, body=body.validated_data, source=Source.API, facts=facts)
                answer = OrderSerializer(order).data  # from the objects in hand: the order as just saved, no re-read
                record_done(record, status=201, body=answer, order=order)
            return 201, answer

        code, answer, replayed = idempotent(user=request.user, key=key, request_hash=body_hash(request.data), work=work)
        response = Response(answer, status=code)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class OrderDetail(APIView):
    @extend_schema(responses={200: OrderSerializer})
    def get(self, request, order_id):
        order = selectors.order_get(user=request.user, public_id=order_id)
        record_access(request, object_type="order", object_id=order.public_id, patient_id=order.patient_id)
        response = Response(OrderSerializer(order).data)
        response["ETag"] = etag(order)
        return response


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class OrderAction(APIView):
    """A change to one order: read it (scoped), honour If-Match, check the body, act, answer with the new
    order and its ETag. Subclasses name the body serializer and the service call."""

    body_serializer: type[serializers.Serializer]

    def act(self, request, order: Order, data: dict) -> None:
        raise NotImplementedError

    def post(self, request, order_id):
        order = selectors.order_get(user=request.user, public_id=order_id)
        check_if_match(request, order)
        body = self.body_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.act(request, order, body.validated_data)
        return order_response(order, user=request.user)


@extend_schema(request=CancelSerializer, responses={200: OrderSerializer}, examples=[api_examples.CANCEL],
               parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)])
class OrderCancel(OrderAction):
    body_serializer = CancelSerializer

    def act(self, request, order, data):
        services.order_cancel(order=order, by=request.user, reason=data["reason"])


class AmendSerializer(OrderBodySerializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                 help_text="For the pharmacist: what changed and why.")


@extend_schema(request=AmendSerializer, responses={200: OrderSerializer},
               parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)],
               description="Answer the pharmacist's clarification by changing the order: the same body as a new order (the "
                           "patient stays the order's), signed again as a new version and sent back for verification. 422 with "
                           "findings when the rules find errors; 409, nothing changed, unless the order awaits an answer.")
class OrderAmend(APIView):
    def post(self, request, order_id):
        order = selectors.order_get(user=request.user, public_id=order_id)
        check_if_match(request, order)
        body = AmendSerializer(data=request.data, context={"facts": formulary_facts()})
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        note = data.pop("note", "")
        services.order_amend(order=order, by=request.user, body=data, note=note)
        return order_response(order, user=request.user)


class RushRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, allow_blank=True, help_text="Why the order is urgent (the pharmacist decides).")


@extend_schema(request=RushRequestSerializer, responses={200: OrderSerializer})
class OrderRushRequest(OrderAction):
    """Ask the pharmacy to rush the order, with a reason; the pharmacist accepts (the promise moves
    earlier) or declines with a reason."""

    body_serializer = RushRequestSerializer

    def act(self, request, order, data):
        services.order_rush_request(order=order, by=request.user, reason=data["reason"])


class EventSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    kind = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    message = serializers.CharField()
    preparation = serializers.UUIDField(source="preparation.public_id", allow_null=True, default=None)
    actor = serializers.SerializerMethodField()
    at = serializers.DateTimeField(source="created_at")

    def get_actor(self, event) -> str | None:
        return (event.actor.get_full_name() or event.actor.username) if event.actor else None


class OrderEvents(generics.ListAPIView):
    serializer_class = EventSerializer

    def get_queryset(self):
        order = selectors.order_get(user=self.request.user, public_id=self.kwargs["order_id"])
        return selectors.order_events(order=order)
