"""The order body's shape (shared by the order pages and the order API: 400 with field errors) and
POST orders/validate/. What the body means is checked by the rules engine (findings)."""

from __future__ import annotations

import decimal
from decimal import Decimal

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
_PERCENT_PLACES = Decimal(".0001")
_CODE_MAX = 60


def _percent(raw) -> Decimal | None:
    """IngredientLineSerializer's percent (DecimalField: 9 digits, 4 places, 0.0001–100) as DRF reads it, or
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
    _sign, digits, exponent = value.as_tuple()
    if exponent >= 0:
        total, whole, places = len(digits) + exponent, len(digits) + exponent, 0
    elif len(digits) > -exponent:
        total, whole, places = len(digits), len(digits) + exponent, -exponent
    else:
        total, whole, places = -exponent, 0, -exponent
    if total > 9 or places > 4 or whole > 5:
        return None
    context = decimal.getcontext().copy()
    context.prec = 9
    value = value.quantize(_PERCENT_PLACES, context=context)
    return value if PERCENT_MIN <= value <= PERCENT_MAX else None


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
