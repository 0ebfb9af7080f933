"""Refills through the API (issue 18): request the next fill of a preparation, and read a preparation with its
refills and fills. The pages call the same service (fulfillment.refills)."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from formulary.rules_facts_builder import formulary_facts
from fulfillment import documents, refills, renewals, selectors
from fulfillment.api import ReasonSerializer
from orders import selectors as order_selectors
from orders.idempotency import body_hash, idempotent, record_done
from orders.api_orders import OrderSerializer, _order_json
from orders.api_validate import OrderBodySerializer, PreparationSerializer
from orders.models import Source
from portal.audit import record_access
from portal.errors import ServiceError


class RefillBodySerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="",
        help_text="A pharmacist's reason to fill before the earliest date (REFILL_TOO_SOON). Ignored, with a message, from anyone else.")


class RefillSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    preparation = serializers.UUIDField(source="preparation.public_id")
    fill = serializers.IntegerField()
    status = serializers.CharField()
    source = serializers.CharField()
    job = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField()
    override_reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_job(self, refill) -> str | None:
        made = self.context.get("made_job")  # the job the request just made, in hand: not read again
        if made is not None and made.preparation_id == refill.preparation_id and made.fill == refill.fill:
            return str(made.public_id)
        job = selectors.job_of_fill(user=self.context["user"], refill=refill)
        return str(job.public_id) if job else None

    def get_requested_by(self, refill) -> str | None:
        if refill.requested_by is None:
            return refill.get_source_display().lower()
        return refill.requested_by.get_full_name() or refill.requested_by.username


class RefillCreatedSerializer(RefillSerializer):
    message = serializers.CharField(help_text="Set when part of the request was ignored (an override reason from anyone but a pharmacist).")


class RefillRefusedSerializer(serializers.Serializer):
    error = serializers.DictField(help_text='{"code": NO_REFILLS_LEFT | PRESCRIPTION_EXPIRED | REFILL_TOO_SOON | FILL_IN_PROGRESS | '
                                           'ORDER_NOT_ACTIVE, "message", "fields", "earliest": "YYYY-MM-DD" (REFILL_TOO_SOON)}')


class PreparationRefills(APIView):
    """Request the next fill of a preparation: a new job with its own worksheet, record, QC, label and shipment."""

    @extend_schema(
        request=RefillBodySerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                                     description="A retry with the same key and body answers the first answer again.")],
        responses={201: RefillCreatedSerializer, 404: OpenApiResponse(description="Not a preparation the caller may see."),
                   409: OpenApiResponse(RefillRefusedSerializer, description="Refused by a refill rule (docs/rules.md); nothing saved.")},
        examples=[OpenApiExample("Too soon", status_codes=["409"], response_only=True,
                                 value={"error": {"code": "REFILL_TOO_SOON", "message": "Too soon for a refill: the earliest day is "
                                                  "December 22, 2026.", "fields": {}, "earliest": "2026-12-22"}})],
    )
    def post(self, request, preparation_id):
        prep = order_selectors.preparation_get(user=request.user, public_id=preparation_id)
        body = RefillBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 255:
            raise ServiceError("An Idempotency-Key is at most 255 characters.", fields={"Idempotency-Key": ["Too long."]})

        def make():
            refill, job, ignored = refills.refill_request(preparation=prep, by=request.user, note=data["note"],
                                                          override_reason=data["override_reason"])
            # The caller may see the preparation (preparation_get), so the job it just made for it: answered as it is.
            return {**RefillSerializer(refill, context={"user": request.user, "made_job": job}).data, "message": ignored}

        try:
            return self._answer(request, prep, key, make)
        except refills.RefillRefused as refused:
            # None left, or expired: the prescriber is asked to renew (after the refusal, which saved nothing).
            renewal = renewals.renewal_after_refusal(preparation=prep, refusal_code=refused.code, by=request.user)
            if renewal is not None:
                refused.extra["renewal_request"] = str(renewal.public_id)
            raise

    def _answer(self, request, prep, key, make):
        if not key:
            with transaction.atomic():
                answer = make()
            return Response(answer, status=201)

        def work(record):
            with transaction.atomic():
                answer = make()
                record_done(record, status=201, body=answer, order=prep.order)
            return 201, answer

        code, answer, replayed = idempotent(user=request.user, key=key,
                                            request_hash=body_hash({"preparation": str(prep.public_id), **request.data}), work=work)
        response = Response(answer, status=code)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class FillSerializer(serializers.Serializer):
    fill = serializers.IntegerField()
    job = serializers.UUIDField()
    number = serializers.CharField()
    status = serializers.CharField()
    compounded_on = serializers.DateField(allow_null=True)
    beyond_use_date = serializers.DateField(allow_null=True)
    shipment = serializers.DictField(allow_null=True)


class PreparationDetailSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    order = serializers.UUIDField()
    order_number = serializers.CharField()
    position = serializers.IntegerField()
    label = serializers.CharField()
    status = serializers.CharField()
    refills = serializers.IntegerField()
    refills_remaining = serializers.IntegerField()
    refill_interval_days = serializers.IntegerField(allow_null=True)
    next_refill_on = serializers.DateField(allow_null=True, help_text="The earliest day for the next refill; null when none can come "
                                                                     "(none left, expired, cancelled) or before the first fill ships.")
    can_request_refill = serializers.BooleanField()
    refill_refused = serializers.DictField(allow_null=True, help_text="Why a refill cannot be asked for today: {code, message, earliest}.")
    fills = FillSerializer(many=True)
    refill_requests = RefillSerializer(many=True)


def fill_rows(prep, user) -> list[dict]:
    """Each fill of a preparation: its job, compounding day, beyond-use date and shipment."""
    rows = []
    for job in selectors.preparation_fills(user=user, preparation=prep):
        label = documents.label_context(job) if hasattr(job, "record") else None
        shipment = job.shipment
        rows.append({
            "fill": job.fill, "job": job.public_id, "number": job.number, "status": job.status,
            "compounded_on": label["compounded_on"] if label else None, "beyond_use_date": label["beyond_use_date"] if label else None,
            "shipment": {"carrier": shipment.carrier, "tracking_number": shipment.tracking_number, "shipped_at": shipment.shipped_at,
                         "status": shipment.status} if shipment else None,
        })
    return rows


def preparation_json(prep, user) -> dict:
    outlook = refills.refill_outlook(prep)
    refusal = outlook["refusal"]
    return PreparationDetailSerializer({
        "id": prep.public_id, "order": prep.order.public_id, "order_number": prep.order.number, "position": prep.position,
        "label": prep.label, "status": prep.status, "refills": prep.refills, "refills_remaining": prep.refills_remaining,
        "refill_interval_days": prep.refill_interval_days, "next_refill_on": outlook["next_refill_on"],
        "can_request_refill": outlook["can_request"],
        "refill_refused": {"code": refusal.code, "message": refusal.message,
                           "earliest": refusal.earliest.isoformat() if refusal.earliest else None} if refusal else None,
        "fills": fill_rows(prep, user),
        "refill_requests": selectors.refill_requests_of(user=user, preparation=prep),
    }, context={"user": user}).data


class PreparationDetail(APIView):
    """One preparation with its refills: how many are left, when the next is due, and every fill so far."""

    @extend_schema(responses={200: PreparationDetailSerializer, 404: OpenApiResponse(description="Not a preparation the caller may see.")})
    def get(self, request, preparation_id):
        prep = order_selectors.preparation_get(user=request.user, public_id=preparation_id)
        record_access(request, object_type="preparation", object_id=prep.public_id, patient_id=prep.order.patient_id)
        return Response(preparation_json(prep, request.user))


# --- Renewals --------------------------------------------------------------------------------

class RenewalBodySerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class RenewalSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    preparation = serializers.UUIDField(source="preparation.public_id")
    order = serializers.UUIDField(source="preparation.order.public_id")
    status = serializers.CharField()
    source = serializers.CharField()
    note = serializers.CharField()
    reason = serializers.CharField(help_text="The prescriber's reason, when denied.")
    new_order = serializers.UUIDField(source="new_order.public_id", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


def _renewal_json(renewal, user) -> dict:
    """The request as it stands now, read again through the caller's scope."""
    return RenewalSerializer(order_selectors.renewal_get(user=user, public_id=renewal.public_id)).data


class PreparationRenewalRequests(APIView):
    """Ask the prescriber to renew a preparation that has no refills left (or whose prescription expired).
    201 with the new request; 200 with the one already waiting."""

    @extend_schema(request=RenewalBodySerializer,
                   responses={201: RenewalSerializer, 200: RenewalSerializer,
                              409: OpenApiResponse(description="RENEWAL_NOT_NEEDED (refills remain) or ORDER_NOT_ACTIVE.")})
    def post(self, request, preparation_id):
        prep = order_selectors.preparation_get(user=request.user, public_id=preparation_id)
        body = RenewalBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        renewal, created = renewals.renewal_request(preparation=prep, by=request.user, note=body.validated_data["note"])
        return Response(_renewal_json(renewal, request.user), status=201 if created else 200)


class RenewalApproveSerializer(serializers.Serializer):
    preparation = PreparationSerializer(required=False, help_text="Approve with changes: the preparation as it should be now "
                                                                  "(the order body's shape). Left out: the preparation as signed.")


class RenewalDetail(APIView):
    """One renewal request as it stands: its status, the note and, once denied, the prescriber's reason. The renewal.*
    webhooks carry ids and statuses, never what a person wrote about the patient: the reason is read here, audited."""

    @extend_schema(responses={200: RenewalSerializer, 404: OpenApiResponse(description="Not a renewal request the caller may see.")})
    def get(self, request, renewal_id):
        renewal = order_selectors.renewal_get(user=request.user, public_id=renewal_id)
        record_access(request, object_type="renewal request", object_id=renewal.public_id, patient_id=renewal.preparation.order.patient_id)
        return Response(RenewalSerializer(renewal).data)


class RenewalApprove(APIView):
    """The prescriber approves: a new signed order copying the preparation (or the changed one), for the same patient."""

    @extend_schema(request=RenewalApproveSerializer,
                   responses={201: OrderSerializer, 409: OpenApiResponse(description="Already approved or denied."),
                              422: OpenApiResponse(description="The new order has an error finding (nothing saved).")})
    def post(self, request, renewal_id):
        renewal = order_selectors.renewal_get(user=request.user, public_id=renewal_id)
        facts = formulary_facts()
        changed = RenewalApproveSerializer(data=request.data, context={"facts": facts})
        changed.is_valid(raise_exception=True)
        raw = renewals.renewal_body(renewal)
        if "preparation" in request.data:
            raw["preparations"] = [request.data["preparation"]]
        body = OrderBodySerializer(data=raw, context={"facts": facts})
        body.is_valid(raise_exception=True)
        order = renewals.renewal_approve(renewal=renewal, by=request.user, body=body.validated_data, source=Source.API)
        return Response(_order_json(order, request.user), status=201)


class RenewalDeny(APIView):
    """The prescriber denies, with a reason the pharmacy and the patient are told."""

    @extend_schema(request=ReasonSerializer, responses={200: RenewalSerializer})
    def post(self, request, renewal_id):
        renewal = order_selectors.renewal_get(user=request.user, public_id=renewal_id)
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        renewal = renewals.renewal_deny(renewal=renewal, by=request.user, reason=body.validated_data["reason"])
        return Response(_renewal_json(renewal, request.user))
