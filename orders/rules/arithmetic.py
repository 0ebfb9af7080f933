"""Shares, expansion into substances, and the batch arithmetic of the worksheet (WM-01 … WM-10).

All in Decimal. Percentages are w/w of the finished preparation. A preparation made in mL is
made as a batch in grams: volume × the base's density × (1 + overage); a material declared % w/v
or % v/v is turned into its % w/w first, so everything after (expansion, limits, weighing) is w/w.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from orders.rules.facts import BaseFacts, Lot, MaterialFacts, PharmacySettings, WeighingLine

HUNDRED = Decimal(100)
ZERO = Decimal(0)


def material_share(material: MaterialFacts, percent: Decimal) -> Decimal:
    """The material's own share: `percent` names its active substance when active_fraction < 1 (WM-06)."""
    if material.active_fraction < 1:
        return percent / material.active_fraction
    return percent


def weight_share(material: MaterialFacts, share: Decimal, density: Decimal | None) -> Decimal:
    """% w/w of the finished preparation for a share stated in the material's strength basis.

    `density` is the base's (g/mL) when the preparation is made in mL, else None: gram preparations
    are w/w whatever the material declares. w/v: g per 100 mL → share / density. v/v: mL per
    100 mL → share × the material's density / the base's density."""
    if density is None or material.strength_basis == "w/w":
        return share
    if material.strength_basis == "w/v":
        return share / density
    return share * (material.density or density) / density


def expand(
    shares: dict[str, Decimal], materials: dict[str, MaterialFacts], base: BaseFacts | None, base_share: Decimal
) -> tuple[dict[str, Decimal], dict[str, list[str]]]:
    """Effective % of every substance (share × its % in the item / 100, summed over all items),
    and the material and base codes that bring each substance in, materials first."""
    found: dict[str, Decimal] = {}
    sources: dict[str, list[str]] = {}
    parts = [(code, materials[code].composition, share) for code, share in shares.items()]
    if base is not None:
        parts.append((base.code, base.composition, base_share))
    for code, composition, share in parts:
        for substance, percent in composition:
            found[substance] = found.get(substance, ZERO) + share * percent / HUNDRED
            sources.setdefault(substance, []).append(code)
    return found, sources


def round_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_HALF_UP) * step


def fefo(lots: list[Lot], needed: Decimal) -> tuple[tuple[Lot, ...], bool]:
    """The lots to use, first to expire first, until `needed` is covered; and whether it is."""
    chosen, covered = [], ZERO
    for lot in sorted(lots, key=lambda lot: (lot.expires_on, lot.lot_number)):
        if covered >= needed:
            break
        chosen.append(lot)
        covered += lot.quantity_on_hand
    return tuple(chosen), covered >= needed


MILLILITRE_STEP = Decimal("0.01")


def batch_weighings(
    *,
    quantity: Decimal,
    shares: dict[str, Decimal],
    base: BaseFacts | None,
    settings: PharmacySettings,
    lots_by_item: dict[str, list[Lot]],
    density: Decimal | None = None,
    materials: dict[str, MaterialFacts] | None = None,
) -> tuple[Decimal, list[WeighingLine], dict[str, bool]]:
    """Batch = dispensed × (1 + overage), in grams: a preparation made in mL is dispensed volume ×
    the base's `density` × (1 + overage). Each material = share × batch / 100, rounded to the
    balance; the base is weighed as the remainder, so the lines add up to the batch exactly.
    Base lots of an mL base are counted in mL (grams / density)."""
    batch = quantity * (1 + settings.overage_percent / HUNDRED)
    if density is not None:
        batch *= density
    batch = round_to(batch, settings.balance_readability_g)
    mwq = settings.minimum_weighable_g
    materials = materials or {}
    lines: list[WeighingLine] = []
    covered: dict[str, bool] = {}
    weighed = ZERO
    for code, share in shares.items():
        grams = round_to(share * batch / HUNDRED, settings.balance_readability_g)
        weighed += grams
        lots, ok = fefo(lots_by_item.get(code, []), grams)
        covered[code] = ok
        material = materials.get(code)
        millilitres = (round_to(grams / material.density, MILLILITRE_STEP)
                       if material is not None and material.physical_form == "liquid" and material.density else None)
        lines.append(WeighingLine(item_code=code, kind="material", share_percent=share, quantity=grams, lots=lots, below_mwq=grams < mwq,
                                  millilitres=millilitres))
    if base is not None:
        remainder = batch - weighed
        millilitres = round_to(remainder / density, MILLILITRE_STEP) if density is not None else None
        lots, ok = fefo(lots_by_item.get(base.code, []), millilitres if millilitres is not None else remainder)
        covered[base.code] = ok
        base_share = HUNDRED - sum(shares.values(), ZERO)
        lines.append(WeighingLine(item_code=base.code, kind="base", share_percent=base_share, quantity=remainder, lots=lots,
                                  below_mwq=ZERO < remainder < mwq, millilitres=millilitres))
    return batch, lines, covered
