"""The order body's shape (shared by the order pages and the order API: 400 with field errors) and
POST orders/validate/. What the body means is checked by the rules engine (findings)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from formulary.models import AllergenGroup
from formulary.rules_facts_builder import formulary_facts
from orders.validation import order_validate, result_as_json
from portal import api_examples
from portal.errors import ServiceError
from portal.states import USState

MAX_PREPARATIONS = 20
MAX_INGREDIENTS = 50


class IngredientLineSerializer(serializers.Serializer):
    ingredient = serializers.CharField(max_length=60)
    percent = serializers.DecimalField(max_digits=9, decimal_places=4, min_value=Decimal("0.0001"), max_value=Decimal(100))


PERCENT_MIN, PERCENT_MAX = Decimal("0.0001"), Decimal(100)
_CODE_MAX = 60


def _decimal(raw, *, digits: int, places: int, low: Decimal | None, high: Decimal | None) -> Decimal | None:
    """A DecimalField(max_digits=digits, decimal_places=places, min_value=low, max_value=high) as DRF reads it, or
    None when DRF would refuse it."""
    if type(raw) not in (int, float, str):  # bool, None, lists…: DRF says why
        return None
    text = str(raw).strip()
    if len(text) > 1000:
        return None
    try:
        value = Decimal(text)
    except ArithmeticError:
        return None
    if not value.is_finite():
        return None
    _sign, numerals, exponent = value.as_tuple()
    if exponent >= 0:
        total, whole, after = len(numerals) + exponent, len(numerals) + exponent, 0
    elif len(numerals) > -exponent:
        total, whole, after = len(numerals), len(numerals) + exponent, -exponent
    else:
        total, whole, after = -exponent, 0, -exponent
    if total > digits or after > places or whole > digits - places:
        return None
    context = decimal.getcontext().copy()
    context.prec = digits
    value = value.quantize(Decimal(1).scaleb(-places), context=context)
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def _percent(raw) -> Decimal | None:
    """IngredientLineSerializer's percent (DecimalField: 9 digits, 4 places, 0.0001–100) as DRF reads it, or
    None when DRF would refuse it."""
    return _decimal(raw, digits=9, places=4, low=PERCENT_MIN, high=PERCENT_MAX)


def ingredient_lines_clean(data) -> list[dict] | None:
    """The ingredient lines as IngredientLineSerializer would clean them ({"ingredient": code stripped,
    "percent": Decimal to 4 places}, other keys dropped), checked by plain Python; None when any line is not
    plainly valid, and then DRF's serializers (IngredientListField's fallback) say why, in their words."""
    if type(data) is not list or len(data) > MAX_INGREDIENTS:
        return None
    lines = []
    for item in data:
        if type(item) is not dict:
            return None
        code = item.get("ingredient")
        if type(code) is not str:
            return None
        code = code.strip()
        # ASCII: no NUL and no lone surrogates (CharField refuses both); codes are ASCII slugs anyway.
        if not code or len(code) > _CODE_MAX or not code.isascii() or "\x00" in code:
            return None
        percent = _percent(item.get("percent"))
        if percent is None:
            return None
        lines.append({"ingredient": code, "percent": percent})
    return lines


def _text(raw, max_length: int, *, blank: bool) -> str | None:
    """A CharField as DRF cleans it (stripped; no NUL, no lone surrogates), for a plain string only; None otherwise."""
    if type(raw) is not str:
        return None
    value = raw.strip()
    if (not value and not blank) or len(value) > max_length or "\x00" in value:
        return None
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return None
    return value


def _day(raw) -> dt.date | None:
    """A DateField's ISO 8601 day (YYYY-MM-DD exactly); None for anything else (DRF then reads it, or says why)."""
    if type(raw) is not str or len(raw) != 10 or raw[4] != "-" or raw[7] != "-" or not (raw[:4] + raw[5:7] + raw[8:]).isdigit() \
            or not raw.isascii():
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def _whole(raw, low: int, high: int) -> int | None:
    return raw if type(raw) is int and low <= raw <= high else None


_NO = object()  # "not plainly valid": DRF's serializers read the body instead, and word its errors
_UNITS = frozenset({"g", "mL"})
_SEXES = frozenset({"female", "male", "other", "unknown"})
_STATES = frozenset(USState.values)
_PREPARATION_KEYS = frozenset({"base", "quantity", "unit", "route", "target_ph", "water_activity", "compounding_date", "directions",
                               "refills", "refill_interval_days", "ingredients", "exclusions"})
_BODY_KEYS = frozenset({"external_id", "prescriber_npi", "patient_id", "patient", "ship_to", "encounter_state",
                        "clinical_difference_note", "preparations"})
_PATIENT_ORDER = ("external_id", "first_name", "last_name", "date_of_birth", "sex", "email", "phone", "allergies")
_PATIENT_KEYS = frozenset(_PATIENT_ORDER)
_ADDRESS_ORDER = ("line1", "line2", "city", "state", "postal_code")
_ADDRESS_KEYS = frozenset(_ADDRESS_ORDER)


def _codes(raw, facts):
    """An allergen-group list (ListField of CharField(40), at most 30) checked against the facts' groups."""
    if type(raw) is not list or len(raw) > 30:
        return _NO
    codes = [_text(code, 40, blank=False) for code in raw]
    if None in codes or not all(code in facts.allergen_group_names for code in codes):
        return _NO
    return list(dict.fromkeys(codes))


def _optional(data: dict, out: dict, name: str, clean, *, null: bool = False) -> bool:
    """Puts data[name], cleaned, in out when sent (a field without a default stays out when not sent); False when it is
    not plainly valid."""
    if name not in data:
        return True
    raw = data[name]
    if raw is None:
        if not null:
            return False
        out[name] = None
        return True
    value = clean(raw)
    if value is None:
        return False
    out[name] = value
    return True


def _preparation_clean(data, facts, today: dt.date):
    if type(data) is not dict or not data.keys() <= _PREPARATION_KEYS:
        return _NO
    from orders.validation import compounding_date_problem

    base = _text(data.get("base"), 60, blank=False)
    quantity = _decimal(data.get("quantity"), digits=10, places=3, low=Decimal("0.001"), high=None)
    unit = data.get("unit")
    if base is None or quantity is None or type(unit) is not str or unit not in _UNITS:
        return _NO
    out = {"base": base, "quantity": quantity, "unit": unit}
    route = data.get("route", "topical")
    route = _text(route, 40, blank=False)
    if route is None or route not in facts.sterile_routes | facts.non_sterile_routes:
        return _NO
    out["route"] = route
    if not (_optional(data, out, "target_ph", lambda raw: _decimal(raw, digits=4, places=2, low=Decimal(0), high=Decimal(14)), null=True)
            and _optional(data, out, "water_activity", lambda raw: _decimal(raw, digits=4, places=3, low=Decimal(0), high=Decimal(1)),
                          null=True)
            and _optional(data, out, "compounding_date", _day, null=True)):
        return _NO
    if out.get("compounding_date") is not None and compounding_date_problem(out["compounding_date"], today):
        return _NO
    directions = _text(data.get("directions", ""), 1000, blank=True)
    refills = _whole(data.get("refills", 0), 0, 11)
    if directions is None or refills is None:
        return _NO
    out["directions"], out["refills"] = directions, refills
    interval = data.get("refill_interval_days")
    if interval is not None and _whole(interval, 7, 365) is None:
        return _NO
    out["refill_interval_days"] = interval
    ingredients = ingredient_lines_clean(data.get("ingredients", []))
    if ingredients is None:
        return _NO
    out["ingredients"] = ingredients
    if "exclusions" in data:
        exclusions = data["exclusions"]
        if type(exclusions) is not dict or not exclusions.keys() <= {"allergen_groups", "preservative_free"}:
            return _NO
        groups = _codes(exclusions.get("allergen_groups", []), facts)
        preservative_free = exclusions.get("preservative_free", False)
        if groups is _NO or type(preservative_free) is not bool:
            return _NO
        out["exclusions"] = {"allergen_groups": groups, "preservative_free": preservative_free}
    return out


def _patient_clean(data, facts, today: dt.date):
    if type(data) is not dict or not data.keys() <= _PATIENT_KEYS or data.get("email"):  # an e-mail address: DRF's EmailField
        return _NO
    from orders.validation import date_of_birth_problem

    out = {}
    for name, length in (("external_id", 100), ("email", 254), ("phone", 30)):
        if not _optional(data, out, name, lambda raw, length=length: _text(raw, length, blank=True)):
            return _NO
    for name in ("first_name", "last_name"):
        value = _text(data.get(name, ""), 100, blank=True)
        if value is None:
            return _NO
        out[name] = value
    if not (_optional(data, out, "date_of_birth", _day) and _optional(data, out, "sex", lambda raw: raw if type(raw) is str and raw in _SEXES else None)):
        return _NO
    if "date_of_birth" in out and date_of_birth_problem(out["date_of_birth"], today):
        return _NO
    allergies = _codes(data.get("allergies", []), facts)
    if allergies is _NO:
        return _NO
    out["allergies"] = allergies
    return {name: out[name] for name in _PATIENT_ORDER if name in out}  # the serializer's order


def _address_clean(data):
    if type(data) is not dict or not data.keys() <= _ADDRESS_KEYS:
        return _NO
    state = data.get("state")
    if type(state) is not str or state not in _STATES:
        return _NO
    out = {}
    for name, length in (("line1", 200), ("line2", 200), ("city", 100), ("postal_code", 10)):
        if not _optional(data, out, name, lambda raw, length=length: _text(raw, length, blank=True)):
            return _NO
    out["state"] = state
    return {name: out[name] for name in _ADDRESS_ORDER if name in out}  # the serializer's order


def order_body_clean(data, facts) -> dict | None:
    """The order body as OrderBodySerializer would clean it (the same keys, defaults and values), checked by plain
    Python; None when any part is not plainly valid (or is one this does not read: an e-mail address, a patient_id
    not in the canonical form), and then DRF's serializers read it and say why, in their words.
    tests/orders/test_ingredient_lines.py holds the two to the same answers (a hypothesis test over whole bodies)."""
    if type(data) is not dict or not data.keys() <= _BODY_KEYS:
        return None
    today = timezone.localdate()
    out = {}
    for name, length in (("external_id", 100), ("prescriber_npi", 10)):
        if not _optional(data, out, name, lambda raw, length=length: _text(raw, length, blank=True)):
            return None
    if "patient_id" in data:
        raw = data["patient_id"]
        if raw is None:
            out["patient_id"] = None
        elif type(raw) is str and len(raw) == 36 and raw == raw.lower():
            try:
                out["patient_id"] = uuid.UUID(hex=raw)
            except ValueError:
                return None
            if str(out["patient_id"]) != raw:
                return None
        else:
            return None
    for name, clean in (("patient", lambda raw: _patient_clean(raw, facts, today)), ("ship_to", _address_clean)):
        if name in data:
            raw = data[name]
            value = None if raw is None else clean(raw)
            if value is _NO:
                return None
            out[name] = value
    if not _optional(data, out, "encounter_state", lambda raw: raw if type(raw) is str and raw in _STATES else None, null=True):
        return None
    note = _text(data.get("clinical_difference_note", ""), 2000, blank=True)
    if note is None:
        return None
    out["clinical_difference_note"] = note
    preparations = data.get("preparations")
    if type(preparations) is not list or not 1 <= len(preparations) <= MAX_PREPARATIONS:
        return None
    cleaned = [_preparation_clean(prep, facts, today) for prep in preparations]
    if any(prep is _NO for prep in cleaned):
        return None
    out["preparations"] = cleaned
    return out


class IngredientListField(serializers.ListField):
    """A preparation's ingredient lines: checked by one plain function (ingredient_lines_clean), not a nested
    serializer per line; the nested serializer runs only to word the errors of a body that is not plainly valid,
    so the answer (and the schema) stays DRF's. tests/orders/test_ingredient_lines.py holds the two to the same
    answers."""

    def to_internal_value(self, data):
        lines = ingredient_lines_clean(data)
        return lines if lines is not None else super().to_internal_value(data)


def allergen_groups_clean(codes: list[str], facts=None) -> list[str]:
    """The codes, each once, or a ValidationError naming the unknown ones. With the request's formulary facts (the
    validate and order endpoints pass them in the serializer's context) the known groups are the facts' own, so a
    body with exclusions on every preparation and a patient's allergies reads no more rows than one without;
    otherwise one query."""
    if facts is not None:
        known = set(facts.allergen_group_names)
    else:
        known = set(AllergenGroup.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = sorted(set(codes) - known)
    if unknown:
        raise serializers.ValidationError(f"Unknown allergen group(s): {', '.join(unknown)}.")
    return list(dict.fromkeys(codes))


class ExclusionsSerializer(serializers.Serializer):
    allergen_groups = serializers.ListField(child=serializers.CharField(max_length=40), max_length=30, required=False, default=list)
    preservative_free = serializers.BooleanField(required=False, default=False)

    def validate_allergen_groups(self, codes):
        return allergen_groups_clean(codes, self.root.context.get("facts"))


class PreparationSerializer(serializers.Serializer):
    base = serializers.CharField(max_length=60)
    quantity = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=Decimal("0.001"))
    unit = serializers.ChoiceField(choices=["g", "mL"])
    route = serializers.CharField(max_length=40, required=False, default="topical")
    target_ph = serializers.DecimalField(max_digits=4, decimal_places=2, min_value=0, max_value=14, required=False, allow_null=True)
    water_activity = serializers.DecimalField(max_digits=4, decimal_places=3, min_value=0, max_value=1, required=False, allow_null=True)
    compounding_date = serializers.DateField(required=False, allow_null=True)
    directions = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    refills = serializers.IntegerField(min_value=0, max_value=11, required=False, default=0)
    refill_interval_days = serializers.IntegerField(
        min_value=7, max_value=365, required=False, allow_null=True, default=None,
        help_text="Refill every this many days: each refill is then requested automatically when due (the patient can pause it), "
                  "and a refill is too soon before 70 % of it. Needs refills.")
    ingredients = IngredientListField(child=IngredientLineSerializer(), max_length=MAX_INGREDIENTS, required=False, default=list)
    exclusions = ExclusionsSerializer(required=False)

    def validate_route(self, route):
        facts = self.root.context.get("facts") or formulary_facts()
        if route not in facts.sterile_routes | facts.non_sterile_routes:
            known = ", ".join(sorted(facts.non_sterile_routes | facts.sterile_routes))
            raise serializers.ValidationError(f"Unknown route {route!r}; use one of {known}.")
        return route

    def validate_compounding_date(self, value):
        from orders.validation import compounding_date_problem

        problem = compounding_date_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class PatientInlineSerializer(serializers.Serializer):
    """A patient sent with the order: found by external_id in the clinic, or created when it is submitted."""

    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=100, allow_blank=True, required=False, default="")
    last_name = serializers.CharField(max_length=100, allow_blank=True, required=False, default="")
    date_of_birth = serializers.DateField(required=False)
    sex = serializers.ChoiceField(choices=["female", "male", "other", "unknown"], required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)

    def validate_date_of_birth(self, value):
        from orders.validation import date_of_birth_problem

        problem = date_of_birth_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value
    allergies = serializers.ListField(child=serializers.CharField(max_length=40), max_length=30, required=False, default=list)

    def validate_allergies(self, codes):
        return allergen_groups_clean(codes, self.root.context.get("facts"))


class AddressSerializer(serializers.Serializer):
    line1 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.ChoiceField(choices=USState.choices)
    postal_code = serializers.CharField(max_length=10, required=False, allow_blank=True)


class OrderBodySerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    prescriber_npi = serializers.CharField(max_length=10, required=False, allow_blank=True)
    patient_id = serializers.UUIDField(required=False, allow_null=True)
    patient = PatientInlineSerializer(required=False, allow_null=True)
    ship_to = AddressSerializer(required=False, allow_null=True)
    encounter_state = serializers.ChoiceField(choices=USState.choices, required=False, allow_null=True)
    clinical_difference_note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    preparations = serializers.ListField(child=PreparationSerializer(), min_length=1, max_length=MAX_PREPARATIONS)

    def to_internal_value(self, data):
        # The body checked by plain code (order_body_clean) when it is plainly valid; otherwise DRF's fields read it and
        # word its errors. Only this class's fields: a subclass (AmendSerializer) has others.
        facts = self.context.get("facts")
        if type(self) is OrderBodySerializer and facts is not None:
            cleaned = order_body_clean(data, facts)
            if cleaned is not None:
                return cleaned
        return super().to_internal_value(data)

    def validate(self, data):
        if data.get("patient_id") and data.get("patient"):
            raise serializers.ValidationError({"patient": ["Send either patient or patient_id, not both."]})
        return data


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField(help_text="The rule's name for people; `code` is the stable identifier.")
    severity = serializers.ChoiceField(choices=["error", "warning"])
    ingredient = serializers.CharField(allow_null=True)
    substance = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class SubstanceShareSerializer(serializers.Serializer):
    substance = serializers.CharField()
    inci = serializers.CharField()
    percent = serializers.FloatField()


class PreparationCheckSerializer(serializers.Serializer):
    """Documents the answer for one preparation (built by orders.validation.result_as_json)."""

    ok = serializers.BooleanField()
    findings = FindingSerializer(many=True)
    aqueous = serializers.BooleanField()
    preserved = serializers.BooleanField()
    compounding_date = serializers.DateField()
    beyond_use_days = serializers.IntegerField()
    beyond_use_date = serializers.DateField()
    storage = serializers.ChoiceField(choices=["refrigerate", "room_or_refrigerate"])
    storage_text = serializers.CharField()
    target_ph = serializers.FloatField(allow_null=True)
    base_percent = serializers.FloatField()
    ingredients = serializers.ListField(child=serializers.DictField())
    substances = SubstanceShareSerializer(many=True, required=False,
                                          help_text="Only with ?detail=full: each substance's share of the preparation.")
    batch = serializers.DictField(required=False, help_text="Only with ?detail=full: the batch to weigh, line by line, with the "
                                                            "lots to use (first to expire first).")


class OrderValidationSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    rules_version = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    preparations = PreparationCheckSerializer(many=True)


DETAIL = OpenApiParameter(
    "detail", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, enum=["full"],
    description="`full` adds each preparation's `substances` and `batch` (the weighings and their lots); without it the "
                "answer is the findings, dating and storage, which is what a form checking as the prescriber types needs.")


class OrderValidateView(APIView):
    """Check an order body against the rules. Nothing is saved."""

    @extend_schema(request=OrderBodySerializer, parameters=[DETAIL], responses={200: OrderValidationSerializer},
                   examples=[api_examples.ORDER])
    def post(self, request):
        detail = request.query_params.get("detail")
        if detail not in (None, "full"):
            raise ServiceError("Use ?detail=full for the substances and the batch, or leave detail out.",
                               fields={"detail": ["Only 'full' is known."]})
        facts = formulary_facts()  # read once per request, shared by the body checks and the engine
        body = OrderBodySerializer(data=request.data, context={"facts": facts})
        body.is_valid(raise_exception=True)
        outcome = order_validate(user=request.user, body=body.validated_data, facts=facts)
        # The answer is made from the engine's results as they are (no response serializer runs over it).
        return Response(
            {
                "ok": outcome.ok,
                "rules_version": outcome.rules_version,
                "external_id": body.validated_data.get("external_id") or None,
                "preparations": [
                    result_as_json(result, facts, prep["unit"], full=detail == "full")
                    for result, prep in zip(outcome.results, body.validated_data["preparations"])
                ],
            }
        )
