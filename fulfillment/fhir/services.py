"""FHIR writes: a MedicationRequest or a transaction Bundle becomes orders through the order services.

The translated body goes through the very serializer, rules engine (orders.services.order_submit),
idempotency (orders.idempotency) and clinic scoping as `POST /api/v1/orders/`; this module only
adds what FHIR asks for on top: conditional create (If-None-Exist), a transaction that makes every
order or none, and OperationOutcome errors that point at the element the caller sent."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from django.db import connection, transaction

from formulary.rules_facts_builder import formulary_facts
from fulfillment.fhir import outbound, selectors
from fulfillment.fhir.inbound import Context, Draft, check_type, translate
from fulfillment.fhir.matching import Index
from fulfillment.fhir.outcome import FhirError, Issue, fail
from orders import services as order_services
from orders.api_validate import OrderBodySerializer
from orders.idempotency import body_hash, idempotent, record_done
from orders.models import Order, Patient, Prescriber, Source
from orders.rules.titles import RULE_TEXT
from orders.services import OrderNotAcceptable
from orders.validation import prescriber_for_caller
from portal.errors import ServiceError
from portal.models import Role

MAX_BUNDLE_ENTRIES = 60

# Findings that are about an element other than an ingredient: where they point.
FINDING_ELEMENT = {
    "QUANTITY_OUT_OF_RANGE": "quantity", "NO_IDENTIFIED_PATIENT": "patient", "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE": "prescriber_npi",
    "PHARMACY_NOT_LICENSED_FOR_DESTINATION": "ship_to", "OUT_OF_SCOPE_STERILE": "route", "POSSIBLE_ESSENTIAL_COPY": "clinical_difference_note",
    "UNKNOWN_BASE": "base", "VEHICLE_NOT_ALLOWED": "base",
}


@dataclasses.dataclass
class Created:
    status: int  # 201 created, 200 an existing one (If-None-Exist)
    resource: dict
    location: str
    etag: str
    replayed: bool = False


def context() -> Context:
    facts = formulary_facts()
    return Context(index=Index(facts), allergen_names=dict(facts.allergen_group_names))


# --- MedicationRequest ------------------------------------------------------------------------

def medication_request_create(*, user, raw, if_none_exist: str = "", idempotency_key: str = "") -> Created:
    ctx = context()
    draft = translate(raw, root="MedicationRequest", context=ctx)
    condition = _condition(if_none_exist, "If-None-Exist") if if_none_exist else None

    def make() -> Created:
        return _create_one(user=user, draft=draft, condition=condition)

    return _idempotent(user=user, key=idempotency_key, raw=raw, make=make, answer=lambda c: (c.status, c.resource),
                       replay=lambda status, body: Created(status, body, f"MedicationRequest/{body['id']}",
                                                           f'W/"{body["meta"]["versionId"]}"'))


def _create_one(*, user, draft: Draft, condition: str | None) -> Created:
    body = _prepare(user=user, draft=draft)
    with transaction.atomic():
        existing = _existing(user=user, draft=draft, condition=condition)
        if existing is not None:
            return _answer(existing, status=200)
        order = _submit(user=user, draft=draft, body=body)
    return _answer(order, status=201)


def _answer(order: Order, *, status: int) -> Created:
    prep = selectors.preparations_of(order)[0]
    resource = outbound.medication_request(prep)
    return Created(status, resource, f"MedicationRequest/{prep.public_id}/_history/{order.version}", f'W/"{order.version}"')


def _idempotent(*, user, key: str, raw, make: Callable, answer: Callable, replay: Callable):
    """With an Idempotency-Key, the first answer is kept and replayed (orders.idempotency, as the API)."""
    if not key:
        return make()
    if len(key) > 255:
        fail(400, "An Idempotency-Key is at most 255 characters.", code="value", detail_code="idempotency_key_too_long")

    def work(record):
        with transaction.atomic():
            result = make()
            status, body = answer(result)
            order_id = _order_in(body)
            record_done(record, status=status, body=body, order=Order.objects.filter(pk=order_id).first() if order_id else None)
        return status, body

    status, body, replayed = idempotent(user=user, key=key, request_hash=body_hash(raw), work=work)
    result = replay(status, body)
    result.replayed = replayed
    return result


def _order_in(body: dict) -> int | None:
    ident = (body.get("groupIdentifier") or {}).get("value") if body.get("resourceType") == "MedicationRequest" else None
    return Order.objects.filter(number=ident).values_list("pk", flat=True).first() if ident else None


# --- The common steps -------------------------------------------------------------------------

def _prepare(*, user, draft: Draft) -> dict:
    """Requester and patient checks, then the API's own serializer over the translated body."""
    _check_requester(user=user, draft=draft)
    body = dict(draft.body)
    lookup = body.pop("patient_lookup", None)
    if lookup:
        prescriber = prescriber_for_caller(user=user, prescriber_npi=draft.requester_npi)
        patient = Patient.objects.filter(clinic_id=prescriber.clinic_id, external_id=lookup).first()
        if patient is None:
            fail(422, f"The clinic keeps no patient with the id {lookup!r}; send the Patient (contained or in a Bundle) the "
                      "first time.", expression=draft.paths.get("patient_lookup"), code="not-found", detail_code="patient_not_found")
        body["patient_id"] = str(patient.public_id)
    serializer = OrderBodySerializer(data=body, context={"facts": formulary_facts()})
    if not serializer.is_valid():
        raise FhirError(422, _field_issues(serializer.errors, draft))
    return serializer.validated_data


def _check_requester(*, user, draft: Draft) -> None:
    """The requester must be the caller (a prescriber's token), or a prescriber of a clinic the platform account acts
    for; anyone else is refused before anything is read or made."""
    npi = draft.requester_npi
    where = f"{draft.root}.requester"
    if user.role == Role.PRESCRIBER:
        own = Prescriber.objects.filter(user=user).values_list("npi", flat=True).first()
        if own is None:
            fail(403, "This account has no prescriber profile.", code="forbidden", detail_code="forbidden")
        if npi != own:
            fail(403, f"The requester (NPI {npi}) is not you: a prescriber's token orders under the prescriber's own NPI "
                      f"({own}), never another prescriber's.", expression=where, code="forbidden", detail_code="requester_not_caller")
        return
    if user.role == Role.PLATFORM:
        if not Prescriber.objects.filter(npi=npi, clinic__platform_accounts=user).exists():
            fail(403, f"The requester (NPI {npi}) is not a prescriber of a clinic this platform account acts for.",
                 expression=where, code="forbidden", detail_code="requester_not_linked")
        return
    fail(403, "Only a prescriber's or a telehealth platform's token can order here.", code="forbidden", detail_code="forbidden")


def _submit(*, user, draft: Draft, body: dict) -> Order:
    try:
        return order_services.order_submit(user=user, body=body, source=Source.API)
    except OrderNotAcceptable as exc:
        raise FhirError(422, finding_issues(exc.preparations, draft)) from None
    except ServiceError as exc:
        raise FhirError(exc.status if exc.status != 400 else 422, [
            *(_field_issues(exc.fields, draft) if exc.fields else []),
            *([] if exc.fields else [Issue(exc.message, expression=draft.root, code=_issue_type(exc.status), detail_code=exc.code)]),
        ]) from None


def _issue_type(status: int) -> str:
    return {403: "forbidden", 404: "not-found", 409: "conflict", 429: "throttled"}.get(status, "business-rule")


def finding_issues(preparations: list[dict], draft: Draft) -> list[Issue]:
    """The rules engine's findings, one issue each, pointing at the ingredient (or element) they concern."""
    issues = []
    for answer in preparations:
        for finding in answer["findings"]:
            element = draft.ingredient_paths.get(finding.get("ingredient") or "")
            if element is None:
                element = draft.paths.get(FINDING_ELEMENT.get(finding["code"], ""), None) or \
                    draft.paths.get(f"preparations.0.{FINDING_ELEMENT.get(finding['code'], '')}") or draft.paths.get("preparations")
            issues.append(Issue(finding["message"], expression=element, code="business-rule", severity=finding["severity"],
                                detail_code=finding["code"], detail_system=_rule_system(), detail_display=_title(finding["code"])))
    return issues


def _rule_system() -> str:
    from fulfillment.fhir import systems

    return systems.RULE


def _title(code: str) -> str | None:
    """The rule's plain title (orders/rules/titles.py), or None for a code without one."""
    text = RULE_TEXT.get(code)
    return text[0] if text else None


def _field_issues(errors, draft: Draft, prefix: str = "") -> list[Issue]:
    """DRF-shaped field errors ({"preparations": {0: {"quantity": ["…"]}}}) → issues at the FHIRPath each came from."""
    issues: list[Issue] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            issues += _field_issues(value, draft, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(errors, list) and errors and all(isinstance(e, (str, bytes)) or hasattr(e, "code") for e in errors):
        for message in errors:
            issues.append(Issue(f"{_label(prefix)}: {message}" if prefix else str(message), expression=_path_for(prefix, draft),
                                code="value", detail_code="invalid_value"))
    elif isinstance(errors, list):
        for i, value in enumerate(errors):
            if value:
                issues += _field_issues(value, draft, f"{prefix}.{i}")
    else:
        issues.append(Issue(str(errors), expression=_path_for(prefix, draft), code="value", detail_code="invalid_value"))
    return issues


def _label(path: str) -> str:
    return path.split(".")[-1].replace("_", " ").capitalize() if path else "The request"


def _path_for(path: str, draft: Draft) -> str:
    parts = path.split(".")
    while parts:
        found = draft.paths.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return draft.root


# --- Conditional create -----------------------------------------------------------------------

CONDITION = re.compile(r"^identifier=(?:(?P<system>[^|&]*)\|)?(?P<value>[^&|]+)$")


def _condition(text: str, where: str) -> str:
    from urllib.parse import unquote

    match = CONDITION.match(unquote(text.strip().removeprefix("MedicationRequest?")))
    if match is None:
        fail(400, f"{where} supports one search: identifier=[system|]value (e.g. identifier=https://ehr.example/rx|RX-1).",
             code="not-supported", detail_code="condition_not_supported")
    return match.group("value")


def _existing(*, user, draft: Draft, condition: str | None) -> Order | None:
    """The clinic's order with this identifier, under a lock on (clinic, identifier) so two concurrent
    conditional creates make one order."""
    if condition is None:
        return None
    if draft.identifier is None or draft.identifier["value"] != condition:
        fail(412, f"If-None-Exist names identifier {condition!r}, but the MedicationRequest's identifier is "
                  f"{(draft.identifier or {}).get('value')!r}: they must be the same.", expression=f"{draft.root}.identifier",
             code="processing", detail_code="condition_mismatch")
    prescriber = prescriber_for_caller(user=user, prescriber_npi=draft.requester_npi)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fhir-identifier:{prescriber.clinic_id}:{condition}"])
    matches = list(Order.objects.filter(clinic_id=prescriber.clinic_id, external_id=condition).exclude(status="draft")[:2])
    if len(matches) > 1:
        fail(412, f"More than one order has the identifier {condition!r}; the condition must match at most one.",
             code="multiple-matches", detail_code="multiple_matches")
    return matches[0] if matches else None


# --- Transaction Bundle -----------------------------------------------------------------------

def transaction_run(*, user, raw, idempotency_key: str = "") -> dict:
    """Every MedicationRequest of the Bundle becomes an order, all in one database transaction, or none does."""
    check_type(raw, "Bundle", "Bundle")
    if raw.get("type") != "transaction":
        fail(400, f"Send a Bundle of type 'transaction' (it was {raw.get('type')!r}); batch and other types are not taken here.",
             expression="Bundle.type", code="not-supported", detail_code="bundle_type")
    entries = raw.get("entry")
    if not isinstance(entries, list) or not entries:
        fail(400, "The Bundle has no entries.", expression="Bundle.entry", code="required")
    if len(entries) > MAX_BUNDLE_ENTRIES:
        fail(413, f"A Bundle holds at most {MAX_BUNDLE_ENTRIES} entries; it had {len(entries)}.", expression="Bundle.entry",
             code="too-costly", detail_code="bundle_too_large")
    ctx = context()
    requests: list[tuple[int, dict, str]] = []  # (entry index, MedicationRequest, its If-None-Exist)
    kinds: list[str] = []
    full_urls: list[str] = []
    issues: list[Issue] = []
    for i, entry in enumerate(entries):
        path = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            issues.append(Issue(f"{path} has no resource.", expression=path, code="structure"))
            kinds.append("")
            full_urls.append("")
            continue
        resource = entry["resource"]
        kind = resource.get("resourceType")
        kinds.append(kind or "")
        request = entry.get("request") or {}
        if request.get("method") not in ("POST", None):
            issues.append(Issue(f"Only POST (create) entries are taken; {path} is {request.get('method')}.",
                                expression=f"{path}.request.method", code="not-supported", detail_code="method_not_supported"))
        full_url = entry.get("fullUrl") or ""
        full_urls.append(full_url)
        if kind == "Patient":
            ctx.patients[full_url] = (resource, f"{path}.resource")
        elif kind == "AllergyIntolerance":
            patient_ref = ((resource.get("patient") or {}).get("reference")) or ""
            ctx.allergies.setdefault(patient_ref, []).append((resource, f"{path}.resource", full_url))
        elif kind == "MedicationRequest":
            requests.append((i, resource, request.get("ifNoneExist") or ""))
        else:
            issues.append(Issue(f"{path} is a {kind or 'resource without resourceType'}; a transaction here holds Patient, "
                                "MedicationRequest and AllergyIntolerance entries.", expression=f"{path}.resource",
                                code="not-supported", detail_code="wrong_resource_type"))
    if not requests and not issues:
        issues.append(Issue("The Bundle holds no MedicationRequest.", expression="Bundle.entry", code="required"))
    drafts: list[tuple[int, Draft, str | None]] = []
    for i, resource, condition in requests:
        try:
            draft = translate(resource, root=f"Bundle.entry[{i}].resource", context=ctx)
            drafts.append((i, draft, _condition(condition, f"Bundle.entry[{i}].request.ifNoneExist") if condition else None))
        except FhirError as exc:
            issues += exc.issues
    if issues:
        raise FhirError(400 if any(i.code in ("structure",) for i in issues) else 422, issues)

    def make() -> dict:
        return _transaction(user=user, drafts=drafts, kinds=kinds, full_urls=full_urls, ctx=ctx)

    return _idempotent(user=user, key=idempotency_key, raw=raw, make=lambda: _Result(make()),
                       answer=lambda r: (200, r.body), replay=lambda status, body: _Result(body)).body


@dataclasses.dataclass
class _Result:
    body: dict
    replayed: bool = False


def _transaction(*, user, drafts, kinds, full_urls, ctx) -> dict:
    prepared, issues, status = [], [], 422
    for i, draft, condition in drafts:
        try:
            prepared.append((i, draft, condition, _prepare(user=user, draft=draft)))
        except FhirError as exc:
            issues += exc.issues
            status = exc.status
    if issues:
        raise FhirError(403 if any(i.code == "forbidden" for i in issues) else status, issues)
    made: dict[int, tuple[Order, int]] = {}
    with transaction.atomic():
        for i, draft, condition, body in prepared:
            existing = _existing(user=user, draft=draft, condition=condition)
            if existing is not None:
                made[i] = (existing, 200)
            else:
                made[i] = (_submit(user=user, draft=draft, body=body), 201)
    response_entries = []
    for i, kind in enumerate(kinds):
        if i in made:
            order, status = made[i]
            prep = selectors.preparations_of(order)[0]
            response_entries.append({"response": {
                "status": "201 Created" if status == 201 else "200 OK",
                "location": f"MedicationRequest/{prep.public_id}/_history/{order.version}", "etag": f'W/"{order.version}"',
                "lastModified": outbound.medication_request(prep)["meta"]["lastUpdated"]}})
        elif kind == "Patient":
            full_url = full_urls[i]
            order = next((made[j][0] for j, draft, _, _ in prepared if draft.subject == full_url), None)
            location = f"Patient/{order.patient.public_id}" if order else None
            response_entries.append({"response": {"status": "201 Created", **({"location": location} if location else {})}})
        else:
            response_entries.append({"response": {"status": "200 OK", "outcome": {
                "resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
                                                              "diagnostics": "Recorded as the patient's allergy."}]}}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": response_entries}
