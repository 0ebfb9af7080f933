"""Formulary API: read for prescribers and platforms, stock lots for pharmacy staff."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from formulary import selectors, services
from formulary.models import AllergenGroup, Base, Category, LotStatus, Material, StockLot
from portal.access import IsPharmacyStaff
from portal.parsers import LimitedJSONParser


class ComponentSerializer(serializers.Serializer):
    substance = serializers.CharField(source="substance.code")
    inci = serializers.CharField(source="substance.inci")
    percent = serializers.FloatField()


class _ContainsMixin(serializers.Serializer):
    contains_allergen_groups = serializers.SerializerMethodField()
    may_contain_allergen_groups = serializers.SerializerMethodField()

    def _summary(self, obj):
        cache = self.context.setdefault("_allergen_cache", {})
        key = (type(obj).__name__, obj.pk)
        if key not in cache:
            cache[key] = selectors.allergen_summary(obj)
        return cache[key]

    def get_contains_allergen_groups(self, obj) -> list[str]:
        return self._summary(obj).get("carries", [])

    def get_may_contain_allergen_groups(self, obj) -> list[str]:
        summary = self._summary(obj)
        return [c for c in summary.get("disputed", []) + summary.get("origin_unknown", []) if c not in summary.get("carries", [])]


class MaterialSerializer(_ContainsMixin, serializers.ModelSerializer):
    composition = ComponentSerializer(source="components", many=True)
    use_min_percent = serializers.FloatField()
    use_max_percent = serializers.FloatField()
    ph_min = serializers.FloatField(allow_null=True)
    ph_max = serializers.FloatField(allow_null=True)
    rx_threshold_percent = serializers.FloatField(allow_null=True)
    active_substance = serializers.CharField(source="active_substance.code", allow_null=True, default=None)
    active_fraction = serializers.FloatField()
    density_g_per_ml = serializers.FloatField(allow_null=True)

    class Meta:
        model = Material
        fields = [
            "code", "name", "category", "composition", "use_min_percent", "use_max_percent", "vehicles", "ph_min",
            "ph_max", "viability", "investigational", "rx_only", "rx_threshold_percent", "active_substance",
            "active_fraction", "storage", "cfu_per_g", "physical_form", "strength_basis", "density_g_per_ml", "density_source",
            "notes", "contains_allergen_groups", "may_contain_allergen_groups",
        ]


class BaseSerializer(_ContainsMixin, serializers.ModelSerializer):
    composition = ComponentSerializer(source="components", many=True)
    default_ph = serializers.FloatField(allow_null=True)
    ph_min = serializers.FloatField(allow_null=True)
    ph_max = serializers.FloatField(allow_null=True)
    min_quantity = serializers.FloatField()
    max_quantity = serializers.FloatField()
    density_g_per_ml = serializers.FloatField(allow_null=True)

    class Meta:
        model = Base
        fields = [
            "code", "name", "vehicle", "application", "composition", "default_ph", "ph_min", "ph_max", "min_quantity",
            "max_quantity", "unit", "density_g_per_ml", "density_source", "notes", "contains_allergen_groups",
            "may_contain_allergen_groups",
        ]


class AllergenGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = AllergenGroup
        fields = ["code", "name", "description"]


def _free_of(request) -> list[str]:
    codes = []
    for raw in request.query_params.getlist("free_of"):
        codes += [c.strip() for c in raw.split(",") if c.strip()]
    known = set(AllergenGroup.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise serializers.ValidationError({"free_of": [f"Unknown allergen group(s): {', '.join(unknown)}."]})
    return codes


_LIST_PARAMS = [
    OpenApiParameter("search", OpenApiTypes.STR, description="Words matched against name, code and INCI names inside."),
    OpenApiParameter("vehicle", OpenApiTypes.STR),
    OpenApiParameter("free_of", OpenApiTypes.STR, description="Allergen group codes, comma-separated or repeated."),
]


@extend_schema(parameters=[*_LIST_PARAMS, OpenApiParameter("category", OpenApiTypes.STR, enum=Category.values)])
class IngredientList(generics.ListAPIView):
    """Materials in the active formulary, with what each is made of."""

    serializer_class = MaterialSerializer

    def get_queryset(self):
        params = self.request.query_params
        category = params.get("category", "")
        if category and category not in Category.values:
            raise serializers.ValidationError({"category": [f"Unknown category {category!r}."]})
        return selectors.material_list(
            search=params.get("search", "")[:200], category=category, vehicle=params.get("vehicle", ""), free_of=_free_of(self.request)
        )


@extend_schema(parameters=[*_LIST_PARAMS, OpenApiParameter("application", OpenApiTypes.STR, enum=["leave_on", "rinse_off"])])
class BaseList(generics.ListAPIView):
    """Bases (vehicles) in the active formulary."""

    serializer_class = BaseSerializer

    def get_queryset(self):
        params = self.request.query_params
        return selectors.base_list(
            search=params.get("search", "")[:200],
            vehicle=params.get("vehicle", ""),
            application=params.get("application", ""),
            free_of=_free_of(self.request),
        )


class AllergenGroupList(generics.ListAPIView):
    serializer_class = AllergenGroupSerializer

    def get_queryset(self):
        return selectors.allergen_group_list()


class StockLotSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    material = serializers.CharField(source="material.code", default=None, read_only=True, allow_null=True,
                                     help_text="The material's code, or null for a base's lot.")
    base = serializers.CharField(source="base.code", default=None, read_only=True, allow_null=True,
                                 help_text="The base's code, or null for a material's lot.")
    quantity_received = serializers.FloatField()
    quantity_on_hand = serializers.FloatField()
    unit = serializers.CharField()
    status = serializers.SerializerMethodField()
    has_certificate = serializers.SerializerMethodField()

    class Meta:
        model = StockLot
        fields = ["id", "material", "base", "lot_number", "supplier", "manufacturer", "received_on", "expires_on", "quantity_received",
                  "quantity_on_hand", "unit", "status", "has_certificate"]

    def get_status(self, lot) -> str:
        return lot.effective_status(timezone.localdate())

    def get_has_certificate(self, lot) -> bool:
        return bool(lot.certificate)


class StockLotReceiveSerializer(serializers.Serializer):
    material = serializers.CharField(required=False, allow_blank=True, max_length=60)
    base = serializers.CharField(required=False, allow_blank=True, max_length=60)
    lot_number = serializers.CharField(max_length=60)
    supplier = serializers.CharField(max_length=120)
    manufacturer = serializers.CharField(max_length=120, required=False, allow_blank=True, default="",
                                         help_text="Who made the material, when the supplier is a distributor.")
    expires_on = serializers.DateField()
    received_on = serializers.DateField(required=False)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    certificate = serializers.FileField(required=False)
    status = serializers.ChoiceField(choices=[LotStatus.QUARANTINED, LotStatus.RELEASED], default=LotStatus.QUARANTINED)


@extend_schema(parameters=[
    OpenApiParameter("status", OpenApiTypes.STR, enum=LotStatus.values),
    OpenApiParameter("item", OpenApiTypes.STR, description="Material or base code."),
    OpenApiParameter("expiring_within_days", OpenApiTypes.INT),
])
class StockLotList(generics.ListCreateAPIView):
    """Stock lots (pharmacy staff only). POST receives a lot, into quarantine unless released."""

    permission_classes = [IsPharmacyStaff]
    serializer_class = StockLotSerializer
    parser_classes = [LimitedJSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        params = self.request.query_params
        status_filter = params.get("status", "")
        if status_filter and status_filter not in LotStatus.values:
            raise serializers.ValidationError({"status": [f"Unknown status {status_filter!r}."]})
        within = params.get("expiring_within_days")
        if within is not None and (not within.isdigit() or int(within) > 3650):
            raise serializers.ValidationError({"expiring_within_days": ["A whole number of days up to 3650."]})
        return selectors.stock_lot_list(
            status=status_filter, item=params.get("item", ""), expiring_within_days=int(within) if within else None, today=timezone.localdate()
        )

    @extend_schema(request=StockLotReceiveSerializer, responses={201: StockLotSerializer})
    def post(self, request):
        body = StockLotReceiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        lot = services.stock_lot_receive(
            by=request.user,
            material_code=data.get("material") or None,
            base_code=data.get("base") or None,
            lot_number=data["lot_number"],
            supplier=data["supplier"], manufacturer=data.get("manufacturer", ""),
            expires_on=data["expires_on"],
            received_on=data.get("received_on"),
            quantity=data["quantity"],
            certificate=data.get("certificate"),
            release=data["status"] == LotStatus.RELEASED,
        )
        return Response(StockLotSerializer(lot).data, status=status.HTTP_201_CREATED)


class _LotAction(APIView):
    permission_classes = [IsPharmacyStaff]
    service = None

    @extend_schema(request=None, responses={200: StockLotSerializer})
    def post(self, request, lot_id):
        lot = services.stock_lot_get(public_id=lot_id)
        lot = type(self).service(by=request.user, lot=lot)
        return Response(StockLotSerializer(lot).data)


class StockLotRelease(_LotAction):
    """Release a quarantined lot for use (pharmacist or pharmacy admin)."""

    service = staticmethod(services.stock_lot_release)


class StockLotQuarantine(_LotAction):
    """Put a released lot back into quarantine."""

    service = staticmethod(services.stock_lot_quarantine)
