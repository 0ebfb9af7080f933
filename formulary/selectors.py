"""Formulary reads. Lists prefetch everything they show, so their query count is constant."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet, Sum

from formulary.models import (
    AllergenGroup,
    Base,
    BaseComponent,
    LotStatus,
    Material,
    MaterialComponent,
    StockLot,
    SubstanceAllergen,
)

_LINKS = Prefetch("substance__allergen_links", queryset=SubstanceAllergen.objects.select_related("group"))


def _search(qs: QuerySet, text: str, component_path: str) -> QuerySet:
    """Name, code or the INCI name of anything inside; every word must match somewhere."""
    for word in text.split()[:8]:
        qs = qs.filter(
            Q(name__icontains=word) | Q(code__icontains=word) | Q(**{f"{component_path}__substance__inci__icontains": word})
        )
    return qs.distinct()


def _free_of(qs: QuerySet, codes: list[str], component_path: str) -> QuerySet:
    """Leave out anything with a substance that carries, may carry or is disputed for a group."""
    if not codes:
        return qs
    return qs.exclude(**{f"{component_path}__substance__allergen_links__group__code__in": codes})


def material_list(*, search: str = "", category: str = "", vehicle: str = "", free_of: list[str] | None = None) -> QuerySet:
    qs = Material.objects.active().select_related("active_substance").prefetch_related(
        Prefetch("components", queryset=MaterialComponent.objects.select_related("substance").prefetch_related(_LINKS))
    )
    if category:
        qs = qs.filter(category=category)
    if vehicle:
        # JSON containment is not portable to SQLite; the vehicle list is short, so match its text.
        qs = qs.filter(vehicles__icontains=f'"{vehicle}"')
    if search:
        qs = _search(qs, search, "components")
    return _free_of(qs, free_of or [], "components").order_by("position", "code")


def base_list(*, search: str = "", vehicle: str = "", application: str = "", free_of: list[str] | None = None) -> QuerySet:
    qs = Base.objects.active().prefetch_related(
        Prefetch("components", queryset=BaseComponent.objects.select_related("substance").prefetch_related(_LINKS))
    )
    if vehicle:
        qs = qs.filter(vehicle=vehicle)
    if application:
        qs = qs.filter(application=application)
    if search:
        qs = _search(qs, search, "components")
    return _free_of(qs, free_of or [], "components").order_by("position", "code")


def withdrawn_material_names(codes) -> dict[str, str]:
    """{code: name} of the materials among `codes` that were withdrawn (no longer offered to prescribers)."""
    return dict(Material.objects.filter(code__in=list(codes), is_active=False).values_list("code", "name"))


def allergen_group_list() -> QuerySet:
    return AllergenGroup.objects.all()


def allergen_summary(item) -> dict[str, list[str]]:
    """What the item's substances carry, by link kind (uses the prefetched components)."""
    found: dict[str, list[str]] = {}
    for component in item.components.all():
        for link in component.substance.allergen_links.all():
            codes = found.setdefault(link.link, [])
            if link.group.code not in codes:
                codes.append(link.group.code)
    return found


def stock_lot_list(*, status: str = "", item: str = "", expiring_within_days: int | None = None, today: dt.date) -> QuerySet:
    qs = StockLot.objects.select_related("material", "base", "received_by").order_by("expires_on", "lot_number")
    if status == LotStatus.EXPIRED:
        qs = qs.filter(Q(status=LotStatus.EXPIRED) | Q(status__in=[LotStatus.RELEASED, LotStatus.QUARANTINED], expires_on__lt=today))
    elif status:
        qs = qs.filter(status=status)
        if status in (LotStatus.RELEASED, LotStatus.QUARANTINED):
            qs = qs.filter(expires_on__gte=today)
    if item:
        qs = qs.filter(Q(material__code=item) | Q(base__code=item))
    if expiring_within_days is not None:
        qs = qs.filter(expires_on__gte=today, expires_on__lte=today + dt.timedelta(days=expiring_within_days))
    return qs


def usable_lots(*, material_codes: list[str], base_codes: list[str], on: dt.date) -> QuerySet:
    """Released, unexpired lots with stock, first to expire first (FEFO)."""
    return (
        StockLot.objects.filter(status=LotStatus.RELEASED, expires_on__gte=on, quantity_on_hand__gt=0)
        .filter(Q(material__code__in=material_codes) | Q(base__code__in=base_codes))
        .select_related("material", "base")
        .order_by("expires_on", "lot_number")
    )


def released_lots_of(*, item_codes: list[str]) -> QuerySet:
    """Released lots of these materials or bases, first to expire first (the choices on a job's record form)."""
    return (StockLot.objects.filter(status=LotStatus.RELEASED).filter(Q(material__code__in=item_codes) | Q(base__code__in=item_codes))
            .select_related("material", "base").order_by("expires_on", "pk"))


def low_stock(*, today: dt.date, material_threshold: Decimal = Decimal("100"), base_threshold: Decimal = Decimal("2000")) -> list[dict]:
    """Items whose usable stock (released, unexpired) is under the threshold, lowest first."""
    usable = Q(lots__status=LotStatus.RELEASED, lots__expires_on__gte=today)
    rows = []
    for model, threshold, kind in ((Material, material_threshold, "material"), (Base, base_threshold, "base")):
        for item in model.objects.active().annotate(on_hand=Sum("lots__quantity_on_hand", filter=usable)):
            on_hand = item.on_hand or Decimal(0)
            if on_hand < threshold:
                rows.append({"kind": kind, "code": item.code, "name": item.name, "on_hand": on_hand,
                             "unit": getattr(item, "unit", "g"), "threshold": threshold})
    return sorted(rows, key=lambda row: row["on_hand"] / row["threshold"])


def mfr_list(*, ingredient: str = "", status: str = "", needs_review: bool | None = None) -> QuerySet:
    """Master formulation records (no patient data in them): by a material or base code or a word of the name,
    status and review flag; newest first."""
    from formulary.models import MasterFormulationRecord

    qs = MasterFormulationRecord.objects.select_related("approved_by").order_by("-created_at", "-pk")
    ingredient = (ingredient or "").strip()
    if ingredient:
        qs = qs.filter(Q(ingredient_codes__icontains=f" {ingredient} ") | Q(name__icontains=ingredient) | Q(code__iexact=ingredient))
    if status:
        qs = qs.filter(status=status)
    if needs_review is not None:
        qs = qs.filter(needs_review=needs_review)
    return qs


def mfr_get(*, public_id):
    from formulary.models import MasterFormulationRecord
    from portal.errors import NotFound

    mfr = (MasterFormulationRecord.objects.select_related("approved_by", "retired_by", "created_by")
           .filter(public_id=public_id).first())
    if mfr is None:
        raise NotFound("No such master formulation record.")
    return mfr


def mfr_versions(*, mfr) -> list:
    """Every version of the same formulation, newest first."""
    from formulary.models import MasterFormulationRecord

    return list(MasterFormulationRecord.objects.filter(formulation_key=mfr.formulation_key).select_related("approved_by")
                .order_by("-version"))


def mfr_order_numbers(*, mfr, limit: int = 20) -> list[str]:
    """The numbers of the latest orders whose preparations follow this record (no patient data)."""
    return list(mfr.preparations.order_by("-order__signed_at").values_list("order__number", flat=True).distinct()[:limit])


def mfr_approved_of(*, formulation_key: str):
    """The approved version of a formulation, if there is one."""
    from formulary.models import MasterFormulationRecord, MfrStatus

    return MasterFormulationRecord.objects.filter(formulation_key=formulation_key, status=MfrStatus.APPROVED).first()
