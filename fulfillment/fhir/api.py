"""The FHIR R4 endpoints under /fhir/r4/: thin views over fulfillment.fhir's services and selectors.

JSON only (application/fhir+json, application/json accepted); the portal's API tokens; every error
an OperationOutcome."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment.fhir import outbound, selectors, services
from fulfillment.fhir.capability import capability_statement
from fulfillment.fhir.outcome import FhirError, Issue, outcome_json
from portal.audit import record_access, record_access_many
from portal.authentication import HashedTokenAuthentication
from portal.errors import ServiceError, record_refusal
from portal.parsers import LimitedJSONParser

FHIR_JSON = "application/fhir+json"


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


class FhirJSONParser(LimitedJSONParser):
    media_type = FHIR_JSON

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        raw = stream.read(limit + 1) if stream is not None else b""
        if (declared and declared.isdigit() and int(declared) > limit) or len(raw) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit // 1024} KB: send fewer entries per Bundle.")
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class PlainJSONParser(FhirJSONParser):
    media_type = "application/json"


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "json"
    charset = "utf-8"


class PlainJSONRenderer(FhirJSONRenderer):
    media_type = "application/json"


def outcome_response(status: int, issues: list[Issue], headers: dict | None = None) -> Response:
    return Response(outcome_json(issues), status=status, headers=headers)


class FhirView(APIView):
    """Token authentication only (no session, so no CSRF or second-factor dance), FHIR JSON in and out,
    every refusal an OperationOutcome."""

    authentication_classes = (HashedTokenAuthentication,)
    parser_classes = (FhirJSONParser, PlainJSONParser)
    renderer_classes = (FhirJSONRenderer, PlainJSONRenderer)
    schema = None  # FHIR's own contract is /fhir/r4/metadata, not the OpenAPI schema

    def handle_exception(self, exc):
        response = _outcome_for(exc)
        if response is None:
            return super().handle_exception(exc)
        self.headers = {}
        return response


def _outcome_for(exc) -> Response | None:
    if isinstance(exc, FhirError):
        return outcome_response(exc.status, exc.issues)
    if isinstance(exc, (RequestDataTooBig, BodyTooLarge)):
        return outcome_response(413, [Issue(f"The request body is larger than {settings.API_MAX_BODY_BYTES // 1024} KB: send fewer "
                                            "entries per Bundle.", code="too-long", detail_code="too_large")])
    if isinstance(exc, ServiceError):
        record_refusal(exc)  # the view's transaction has rolled back by now
        code = {401: "login", 403: "forbidden", 404: "not-found", 409: "conflict", 412: "processing", 429: "throttled"}
        issue_type = code.get(exc.status, "invalid" if exc.status < 422 else "business-rule")
        return outcome_response(exc.status, [Issue(exc.message, code=issue_type, detail_code=exc.code)])
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return outcome_response(401, [Issue("Send the portal's API token: Authorization: Token <token>.", code="login",
                                            detail_code="not_authenticated")], headers={"WWW-Authenticate": "Token"})
    if isinstance(exc, exceptions.APIException):
        kinds = {400: "structure", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported",
                 413: "too-long", 415: "not-supported", 429: "throttled"}
        detail = exc.detail if isinstance(exc.detail, str) else "The request could not be read."
        if isinstance(exc, exceptions.ParseError):
            detail = f"The body is not JSON: {detail}"
        if isinstance(exc, exceptions.UnsupportedMediaType):
            detail = f"Send JSON: Content-Type {FHIR_JSON} (or application/json)."
        return outcome_response(exc.status_code, [Issue(str(detail), code=kinds.get(exc.status_code, "exception"),
                                                        detail_code=getattr(exc, "default_code", "error"))])
    return None


def _searchset(request, resources: list[dict], kind: str) -> dict:
    base = settings.SITE_URL.rstrip("/") + "/fhir/r4"
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": f"{base}/{kind}?{request.META.get('QUERY_STRING', '')}".rstrip("?")}],
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in resources],
    }
    if not resources:
        del bundle["entry"]  # FHIR JSON has no empty arrays
    return bundle


def _record_orders(request, orders) -> None:
    """One access event per order read (the API's detail reads write one each), in one insert."""
    seen = {}
    for order in orders:
        seen.setdefault(order.pk, (order.public_id, order.patient_id))
    if seen:
        record_access_many(request, object_type="order", objects=seen.values())


def _created(result: services.Created) -> Response:
    response = Response(result.resource, status=result.status)
    response["Location"] = result.location
    response["ETag"] = result.etag
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class Metadata(FhirView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get(self, request):
        return Response(capability_statement())


class MedicationRequestType(FhirView):
    def get(self, request):
        params = request.query_params
        preps = selectors.medication_requests(user=request.user, identifier=params.get("identifier", ""),
                                              patient=params.get("patient", "") or params.get("subject", ""),
                                              status=params.get("status", ""), last_updated=params.getlist("_lastUpdated"))
        _record_orders(request, [p.order for p in preps])
        with outbound.one_read():
            return Response(_searchset(request, [outbound.medication_request(p) for p in preps], "MedicationRequest"))

    def post(self, request):
        result = services.medication_request_create(user=request.user, raw=request.data,
                                                    if_none_exist=request.headers.get("If-None-Exist", ""),
                                                    idempotency_key=request.headers.get("Idempotency-Key", "").strip())
        return _created(result)


class MedicationRequestInstance(FhirView):
    def get(self, request, preparation_id):
        prep = selectors.preparation_get(user=request.user, public_id=preparation_id)
        _record_orders(request, [prep.order])
        resource = outbound.medication_request(prep)
        return Response(resource, headers={"ETag": f'W/"{resource["meta"]["versionId"]}"'})


class TaskType(FhirView):
    def get(self, request):
        preps = selectors.tasks_for(user=request.user, focus=request.query_params.get("focus", ""))
        _record_orders(request, [p.order for p in preps])
        with outbound.one_read():
            return Response(_searchset(request, [outbound.task(p) for p in preps], "Task"))


class TaskInstance(FhirView):
    def get(self, request, preparation_id):
        prep = selectors.preparation_get(user=request.user, public_id=preparation_id)
        _record_orders(request, [prep.order])
        return Response(outbound.task(prep))


class MedicationDispenseType(FhirView):
    def get(self, request):
        jobs = selectors.dispenses_for(user=request.user, prescription=request.query_params.get("prescription", ""))
        _record_orders(request, [j.preparation.order for j in jobs])
        with outbound.one_read():
            return Response(_searchset(request, [outbound.dispense(j) for j in jobs], "MedicationDispense"))


class MedicationDispenseInstance(FhirView):
    def get(self, request, job_id):
        job = selectors.job_get(user=request.user, public_id=job_id)
        _record_orders(request, [job.preparation.order])
        return Response(outbound.dispense(job))


class PatientInstance(FhirView):
    def get(self, request, patient_id):
        patient = selectors.patient_get(user=request.user, public_id=patient_id)
        record_access(request, object_type="patient", object_id=patient.public_id, patient_id=patient.pk)
        return Response(outbound.patient(patient))


class System(FhirView):
    """POST /fhir/r4/ with a transaction Bundle."""

    def post(self, request):
        body = services.transaction_run(user=request.user, raw=request.data,
                                        idempotency_key=request.headers.get("Idempotency-Key", "").strip())
        return Response(body, status=200)


class Unsupported(FhirView):
    """Every other path under /fhir/r4/: what this server does not do, said as an OperationOutcome."""

    def _refuse(self, request, *args, **kwargs):
        raise FhirError(404, [Issue(f"{request.method} {request.path} is not supported here; GET /fhir/r4/metadata lists "
                                    "what is.", code="not-supported", detail_code="not_supported")])

    get = post = put = patch = delete = _refuse
