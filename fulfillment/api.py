"""Staff API (pharmacy roles only): verification, the queue (claims given back with /release/), records, QC, the
pharmacist's final check (/verify/), labels, shipping.
The pages call the same services."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment import carriers, downloads, holds, records, rush, selectors, services, tracking, workflows
from fulfillment.models import Job, JobStatus, RecordStep, RenderStatus
from orders.api_orders import OrderAction, OrderSerializer
from portal import api_examples
from portal.access import IsPharmacyStaff
from portal.audit import record_access
from portal.errors import NotFound


class Staff(APIView):
    permission_classes = [IsPharmacyStaff]


class ApproveSerializer(serializers.Serializer):
    acknowledged_warnings = serializers.ListField(child=serializers.CharField(max_length=60), max_length=50, required=False, default=list)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class QuestionSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=2000)


@extend_schema(request=ApproveSerializer, responses={200: OrderSerializer}, examples=[api_examples.APPROVE])
class OrderApprove(OrderAction):
    permission_classes = [IsPharmacyStaff]
    body_serializer = ApproveSerializer

    def act(self, request, order, data):
        workflows.order_approve(order=order, by=request.user, acknowledged_warnings=data["acknowledged_warnings"])


@extend_schema(request=ReasonSerializer, responses={200: OrderSerializer}, examples=[api_examples.REJECT])
class OrderReject(OrderAction):
    permission_classes = [IsPharmacyStaff]
    body_serializer = ReasonSerializer

    def act(self, request, order, data):
        workflows.order_reject(order=order, by=request.user, reason=data["reason"])


@extend_schema(request=QuestionSerializer, responses={200: OrderSerializer}, examples=[api_examples.CLARIFY])
class OrderClarify(OrderAction):
    permission_classes = [IsPharmacyStaff]
    body_serializer = QuestionSerializer

    def act(self, request, order, data):
        workflows.order_clarify(order=order, by=request.user, question=data["question"])


class NoBody(serializers.Serializer):
    pass


@extend_schema(request=None, responses={200: OrderSerializer})
class OrderRushAccept(OrderAction):
    """Accept the prescriber's rush request: the order's jobs move above every normal job, and the
    promise is worked out again as a rush (never later than before)."""

    permission_classes = [IsPharmacyStaff]
    body_serializer = NoBody

    def act(self, request, order, data):
        rush.order_rush_accept(order=order, by=request.user)


@extend_schema(request=ReasonSerializer, responses={200: OrderSerializer})
class OrderRushDecline(OrderAction):
    """Decline the rush request, telling the prescriber why; the promise stays as it was."""

    permission_classes = [IsPharmacyStaff]
    body_serializer = ReasonSerializer

    def act(self, request, order, data):
        rush.order_rush_decline(order=order, by=request.user, reason=data["reason"])


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    number = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.IntegerField()
    fill = serializers.IntegerField()
    order = serializers.UUIDField(source="preparation.order.public_id")
    order_number = serializers.CharField(source="preparation.order.number")
    preparation = serializers.CharField(source="preparation.label")
    storage = serializers.CharField(source="preparation.storage")
    claimed_by = serializers.CharField(source="claimed_by.username", allow_null=True, default=None)
    claim_expires_at = serializers.DateTimeField(allow_null=True)
    hold_reason = serializers.CharField(help_text="While on hold: the pharmacist's reason; otherwise empty.")
    worksheet = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_worksheet(self, job) -> dict | None:
        latest = selectors.latest_worksheet(job)
        return None if latest is None else {"version": latest.version, "status": latest.status, "error": latest.error}


@extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=JobStatus.values)])
class JobList(generics.ListAPIView):
    permission_classes = [IsPharmacyStaff]
    serializer_class = JobSerializer

    def get_queryset(self):
        status = self.request.query_params.get("status", "")
        if status and status not in JobStatus.values:
            raise serializers.ValidationError({"status": [f"Unknown status {status!r}."]})
        return selectors.job_list(user=self.request.user, status=status)


def _job_json(job: Job, user) -> dict:
    return JobSerializer(selectors.job_for_answer(user=user, job=job)).data


class JobClaimNext(Staff):
    @extend_schema(request=None, responses={200: JobSerializer})
    def post(self, request):
        return Response(_job_json(services.job_claim_next(by=request.user), request.user))


class JobClaim(Staff):
    @extend_schema(request=None, responses={200: JobSerializer})
    def post(self, request, job_id):
        return Response(_job_json(services.job_claim(job=selectors.job_get(user=request.user, public_id=job_id), by=request.user), request.user))


# POST jobs/{id}/release/ gives the claim back; the pharmacist's final check is JobVerify (/verify/).
class JobClaimGiveBack(Staff):
    @extend_schema(request=None, responses={200: JobSerializer})
    def post(self, request, job_id):
        return Response(_job_json(services.job_claim_give_back(job=selectors.job_get(user=request.user, public_id=job_id), by=request.user), request.user))


class JobWorksheet(Staff):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, 202: OpenApiTypes.OBJECT})
    def get(self, request, job_id):
        job = selectors.job_get(user=request.user, public_id=job_id)
        latest = selectors.latest_worksheet(job)
        if latest is None:
            raise NotFound("No worksheet yet: claim the job, or ask for one.")
        if latest.status != RenderStatus.READY:
            return Response({"version": latest.version, "status": latest.status, "error": latest.error, "attempts": latest.attempts}, status=202)
        return downloads.worksheet_download(request, job, latest)

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, job_id):
        worksheet = services.worksheet_request(job=selectors.job_get(user=request.user, public_id=job_id), by=request.user)
        return Response({"version": worksheet.version, "status": worksheet.status}, status=202)


class RecordLineSerializer(serializers.Serializer):
    item = serializers.CharField(max_length=60)
    step = serializers.ChoiceField(choices=RecordStep.choices, required=False, default=RecordStep.WEIGH,
                                   help_text="weigh, or for a material below the minimum weighable quantity its three aliquot "
                                             "lines: aliquot_material, aliquot_base (the mixture's weight, a lot of the base), "
                                             "aliquot_portion (no lot: it comes from the mixture)")
    lot_number = serializers.CharField(max_length=60, allow_blank=True, required=False, default="")
    actual_grams = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=0)


class RecordSerializer(serializers.Serializer):
    lots = RecordLineSerializer(many=True)
    actual_yield_grams = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=0)


class JobRecord(Staff):
    @extend_schema(request=RecordSerializer, responses={200: JobSerializer})
    def post(self, request, job_id):
        body = RecordSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = selectors.job_get(user=request.user, public_id=job_id)
        services.job_record(job=job, by=request.user, lots=[dict(line) for line in body.validated_data["lots"]],
                            actual_yield_grams=body.validated_data["actual_yield_grams"])
        return Response(_job_json(job, request.user))


class QCSerializer(serializers.Serializer):
    ph = serializers.DecimalField(max_digits=4, decimal_places=2, min_value=0, max_value=14, required=False, allow_null=True)
    appearance_ok = serializers.BooleanField()
    fill_weight = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=0)
    description = serializers.CharField(max_length=services.QC_DESCRIPTION_MAX, required=False, allow_blank=True, default="",
                                        help_text="The physical description observed (blank with the appearance as specified: the MFR's).")


class JobQC(Staff):
    @extend_schema(request=QCSerializer, responses={200: OpenApiTypes.OBJECT}, examples=[api_examples.QC])
    def post(self, request, job_id):
        body = QCSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = selectors.job_get(user=request.user, public_id=job_id)
        result = services.job_qc(job=job, by=request.user, ph=body.validated_data.get("ph"),
                                 appearance_ok=body.validated_data["appearance_ok"], fill_weight=body.validated_data["fill_weight"],
                                 description=body.validated_data["description"])
        return Response({"passed": result.passed, "problems": result.problems, "job": _job_json(job, request.user)})


class JobVerify(Staff):
    @extend_schema(request=None, responses={200: JobSerializer})
    def post(self, request, job_id):
        from portal.errors import Forbidden

        if request.user.role == "technician":
            raise Forbidden("Only a pharmacist releases a preparation.")
        return Response(_job_json(services.job_verify(job=selectors.job_get(user=request.user, public_id=job_id), by=request.user), request.user))


class DeviationSerializer(serializers.Serializer):
    what = serializers.CharField(max_length=records.DEVIATION_WHAT_MAX, allow_blank=True)
    reason = serializers.CharField(max_length=records.DEVIATION_REASON_MAX, allow_blank=True)


class PdfOrJson(JSONRenderer):
    """Lets `?format=pdf` through DRF's negotiation: the view answers the PDF itself, and errors stay JSON."""

    format = "pdf"


@extend_schema(parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "pdf"],
                                            description="pdf: the frozen PDF of a released record, with X-Content-SHA256.")],
               responses={200: OpenApiTypes.OBJECT,
                          202: OpenApiResponse(OpenApiTypes.OBJECT, description="format=pdf: the frozen record's PDF is still "
                                                                                  "being rendered by the worker; ask again in a few seconds."),
                          409: OpenApiResponse(OpenApiTypes.OBJECT, description="format=pdf before the record is released.")})
class JobCompoundingRecord(Staff):
    """The job's compounding record (USP <795> 7.3): its current attempt (`attempt`), the attempts before it that failed QC
    in `earlier_attempts` (in rework, before the next batch is recorded, the failed attempt itself, `status` failed_qc).
    Before release: what was recorded so far and what is `missing`.
    Released: the frozen record, its `pdf_sha256`, and the PDF with `?format=pdf`. Any change answers 409 once released."""

    renderer_classes = [JSONRenderer, PdfOrJson]

    def get(self, request, job_id):
        job = selectors.job_get(user=request.user, public_id=job_id)
        record = records.current_or_latest(job)
        if record is None:
            raise NotFound(f"Job {job.number} has no compounding record yet.")
        if request.query_params.get("format") == "pdf":
            return downloads.record_download(request, job, record)
        record_access(request, object_type="compounding record", object_id=job.public_id, patient_id=job.preparation.order.patient_id)
        return Response(records.record_json(job, record))

    @extend_schema(request=None, responses={409: OpenApiTypes.OBJECT})
    def put(self, request, job_id):
        records.record_change_refused(selectors.job_get(user=request.user, public_id=job_id))

    @extend_schema(request=None, responses={409: OpenApiTypes.OBJECT})
    def patch(self, request, job_id):
        records.record_change_refused(selectors.job_get(user=request.user, public_id=job_id))

    @extend_schema(request=None, responses={409: OpenApiTypes.OBJECT})
    def delete(self, request, job_id):
        records.record_change_refused(selectors.job_get(user=request.user, public_id=job_id))


class JobRecordDeviation(Staff):
    @extend_schema(request=DeviationSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, job_id):
        body = DeviationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = selectors.job_get(user=request.user, public_id=job_id)
        records.deviation_add(job=job, by=request.user, what=body.validated_data["what"], reason=body.validated_data["reason"])
        job = selectors.job_get(user=request.user, public_id=job_id)
        return Response(records.record_json(job, job.record), status=201)


class JobLabel(Staff):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, job_id):
        return downloads.label_download(request, selectors.job_get(user=request.user, public_id=job_id))


class ShipmentCreateSerializer(serializers.Serializer):
    jobs = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=20)
    carrier = serializers.CharField(max_length=40)
    service = serializers.CharField(max_length=60)
    tracking_number = serializers.CharField(max_length=200, trim_whitespace=False)
    cold_pack = serializers.BooleanField(default=False)


class ShipmentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    order = serializers.SerializerMethodField(help_text="The first order in the parcel (kept for callers written before a "
                                                       "parcel could hold several orders); `orders` lists them all.")
    orders = serializers.SerializerMethodField()
    carrier = serializers.CharField()
    service = serializers.CharField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.SerializerMethodField()
    cold_pack = serializers.BooleanField()
    status = serializers.CharField()
    shipped_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    jobs = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    def get_order(self, shipment) -> str:
        return str(shipment.order_list[0].public_id)

    def get_orders(self, shipment) -> list[str]:
        return [str(order.public_id) for order in shipment.order_list]

    def get_tracking_url(self, shipment) -> str:
        return carriers.carrier_for(shipment.carrier).tracking_url(shipment.tracking_number)

    def get_jobs(self, shipment) -> list[str]:
        return [job.number for job in shipment.jobs.all()]

    def get_events(self, shipment) -> list[dict]:
        return [{"status": e.status, "description": e.description, "at": e.occurred_at} for e in shipment.events.all()]


class ShipmentCreate(Staff):
    @extend_schema(request=ShipmentCreateSerializer, responses={201: ShipmentSerializer})
    def post(self, request):
        body = ShipmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        jobs = [selectors.job_get(user=request.user, public_id=job_id) for job_id in data["jobs"]]
        shipment = services.shipment_create(by=request.user, jobs=jobs, carrier=data["carrier"], service=data["service"],
                                            tracking_number=data["tracking_number"], cold_pack=data["cold_pack"])
        return Response(ShipmentSerializer(shipment).data, status=201)


class ShipmentDetail(Staff):
    @extend_schema(responses={200: ShipmentSerializer})
    def get(self, request, shipment_id):
        shipment = selectors.shipment_get(user=request.user, public_id=shipment_id)
        record_access(request, object_type="shipment", object_id=shipment.public_id, patient_id=shipment.patient_id)
        return Response(ShipmentSerializer(shipment).data)


class CarrierWebhook(APIView):
    """A carrier pushes tracking events, signed: X-Carrier-Signature = hex HMAC-SHA256 of the body."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT}, auth=[])
    def post(self, request, carrier):
        # request.body, never request.data: the signature is checked on the raw bytes before anything parses them.
        added = tracking.carrier_webhook_accept(carrier_code=carrier, body=request.body,
                                                signature=request.headers.get("X-Carrier-Signature", ""))
        return Response({"accepted": added})


class HoldSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="In plain words: the prescriber and the patient read it as “On hold: …”.")


def _pharmacist_only(request, what: str) -> None:
    from portal.errors import Forbidden

    if request.user.role == "technician":
        raise Forbidden(f"Only a pharmacist {what}.")


class JobHold(Staff):
    """Put a job on hold (pharmacists): the reason is shown to the prescriber and the patient."""

    @extend_schema(request=HoldSerializer, responses={200: JobSerializer})
    def post(self, request, job_id):
        _pharmacist_only(request, "puts a job on hold")
        body = HoldSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = holds.job_hold(job=selectors.job_get(user=request.user, public_id=job_id), by=request.user, reason=body.validated_data["reason"])
        return Response(_job_json(job, request.user))


class JobResume(Staff):
    """Take a job off hold (pharmacists), back to the status it was held from."""

    @extend_schema(request=None, responses={200: JobSerializer})
    def post(self, request, job_id):
        _pharmacist_only(request, "resumes a job")
        job = holds.job_resume(job=selectors.job_get(user=request.user, public_id=job_id), by=request.user)
        return Response(_job_json(job, request.user))
