"""Formulary writes: receiving, releasing and quarantining stock; marking formulary edits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from formulary.models import Base, FormularyState, LotStatus, Material, StockLot
from portal.errors import Forbidden, NotFound, ServiceError
from portal.models import Role
from portal.numbers import moment_text

CERTIFICATE_MAX_BYTES = 10 * 1024 * 1024
# Who may release a lot for use: a quality decision, so pharmacists and the pharmacy admin.
RELEASERS = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})


def formulary_revision_bump() -> None:
    """Every edit of the formulary bumps its revision, so the rules version names what changed."""
    FormularyState.objects.update(revision=F("revision") + 1, updated_at=timezone.now())


def formulary_item_edited(*, item, by=None) -> int:
    """A material, base or substance was edited (the admin): bump the revision, and flag for review every master
    formulation record that uses it (a substance: every material and base that contains it). Returns how many."""
    from formulary.mfrs import mfrs_flag_for_review
    from formulary.models import Substance

    formulary_revision_bump()
    if isinstance(item, Substance):
        codes = sorted(set(Material.objects.filter(components__substance=item).values_list("code", flat=True))
                       | set(Base.objects.filter(components__substance=item).values_list("code", flat=True)))
        what = f"the substance {item.inci}"
    elif isinstance(item, (Material, Base)):
        codes, what = [item.code], item.name
    else:
        return 0
    who = f" by {by.get_full_name() or by.username}" if by is not None else ""
    return mfrs_flag_for_review(item_codes=codes, reason=f"{what} was edited in the formulary on {moment_text(timezone.now())}{who}: "
                                                          "check the components, calculations and beyond-use date still hold.")


def _item(*, material_code: str | None, base_code: str | None) -> dict:
    if bool(material_code) == bool(base_code):
        raise ServiceError("Name exactly one of material or base.", fields={"material": ["Name a material or a base, not both."]})
    if material_code:
        material = Material.objects.filter(code=material_code).first()
        if material is None:
            raise ServiceError(f"Unknown material {material_code!r}.", fields={"material": [f"No material with code {material_code!r}."]})
        return {"material": material}
    base = Base.objects.filter(code=base_code).first()
    if base is None:
        raise ServiceError(f"Unknown base {base_code!r}.", fields={"base": [f"No base with code {base_code!r}."]})
    return {"base": base}


def stock_lot_receive(
    *,
    by,
    material_code: str | None = None,
    base_code: str | None = None,
    lot_number: str,
    supplier: str,
    manufacturer: str = "",
    expires_on: dt.date,
    quantity: Decimal,
    received_on: dt.date | None = None,
    certificate=None,
    release: bool = False,
) -> StockLot:
    """Receive a lot into quarantine (or straight to released, for a pharmacist who checked its CoA)."""
    today = timezone.localdate()
    received_on = received_on or today
    item = _item(material_code=material_code, base_code=base_code)
    name = (item.get("material") or item.get("base")).code
    errors: dict[str, list[str]] = {}
    lot_number = (lot_number or "").strip()
    if not lot_number:
        errors["lot_number"] = ["A lot number is required."]
    if not (supplier or "").strip():
        errors["supplier"] = ["A supplier is required."]
    if not quantity.is_finite() or quantity <= 0:
        errors["quantity"] = [f"The quantity of lot {lot_number or '?'} of {name} must be above zero."]
    if received_on > today:
        errors["received_on"] = ["The received date cannot be in the future."]
    if expires_on <= received_on:
        errors["expires_on"] = [f"Lot {lot_number or '?'} of {name} expires ({expires_on}) on or before it was received ({received_on})."]
    elif expires_on < today:
        errors["expires_on"] = [f"Lot {lot_number or '?'} of {name} has already expired ({expires_on}); it cannot be received."]
    if certificate is not None:
        if certificate.size > CERTIFICATE_MAX_BYTES:
            errors["certificate"] = ["The certificate of analysis must be 10 MB or smaller."]
        elif not certificate.read(5).startswith(b"%PDF-"):
            errors["certificate"] = ["The certificate of analysis must be a PDF file."]
        certificate.seek(0)
    if release and by.role not in RELEASERS:
        errors["status"] = ["Only a pharmacist can release a lot; receive it into quarantine."]
    if lot_number and StockLot.objects.filter(lot_number=lot_number, **item).exists():
        errors["lot_number"] = [f"Lot {lot_number} of {name} has already been received."]
    if errors:
        raise ServiceError(f"Lot {lot_number or '?'} of {name} cannot be received: see fields.", fields=errors)
    lot = StockLot(
        **item,
        lot_number=lot_number,
        supplier=supplier.strip(),
        manufacturer=(manufacturer or "").strip()[:120],
        expires_on=expires_on,
        received_on=received_on,
        quantity_received=quantity,
        quantity_on_hand=quantity,
        status=LotStatus.RELEASED if release else LotStatus.QUARANTINED,
        received_by=by,
    )
    if certificate is not None:
        lot.certificate.save(f"{name}-{lot_number}.pdf", certificate, save=False)
    try:
        with transaction.atomic():
            lot.save()
    except IntegrityError:  # a concurrent receipt of the same lot number won the race
        raise ServiceError(f"Lot {lot_number} of {name} has already been received.", fields={"lot_number": ["Already received."]}) from None
    return lot


def _lot_transition(*, lot: StockLot, allowed_from: tuple[str, ...], to: str) -> StockLot:
    updated = StockLot.objects.filter(pk=lot.pk, status__in=allowed_from).update(status=to)
    if updated != 1:
        lot.refresh_from_db()
        raise ServiceError(f"Lot {lot.lot_number} is {lot.get_status_display().lower()}; it cannot become {to}.", code="invalid_transition")
    lot.refresh_from_db()
    return lot


def stock_lot_release(*, by, lot: StockLot) -> StockLot:
    if by.role not in RELEASERS:
        raise Forbidden("Only a pharmacist can release a lot for use.")
    if lot.expires_on < timezone.localdate():
        raise ServiceError(f"Lot {lot.lot_number} expired on {lot.expires_on}; it cannot be released.", code="lot_expired")
    return _lot_transition(lot=lot, allowed_from=(LotStatus.QUARANTINED,), to=LotStatus.RELEASED)


def stock_lot_quarantine(*, by, lot: StockLot) -> StockLot:
    return _lot_transition(lot=lot, allowed_from=(LotStatus.RELEASED,), to=LotStatus.QUARANTINED)


def stock_lot_get(*, public_id) -> StockLot:
    lot = StockLot.objects.select_related("material", "base").filter(public_id=public_id).first()
    if lot is None:
        raise NotFound("No such lot.")
    return lot


def stock_lots_consume(*, takes: list[tuple[StockLot, Decimal]]) -> None:
    """Take amounts (in each lot's unit: g, or mL for a base made in mL) from lots, all or none: the lots' rows are locked in primary-key order (so two
    technicians using the same lots wait for each other instead of deadlocking), each must hold what is
    taken, and a lot taken to zero is exhausted. Call it inside the caller's transaction."""
    wanted: dict[int, Decimal] = {}
    for lot, grams in takes:
        wanted[lot.pk] = wanted.get(lot.pk, Decimal(0)) + grams
    with transaction.atomic():
        locked = {lot.pk: lot for lot in StockLot.objects.select_for_update(of=("self",)).select_related("material", "base")
                  .filter(pk__in=wanted).order_by("pk")}
        for pk in sorted(wanted):
            lot, grams = locked[pk], wanted[pk]
            if lot.quantity_on_hand < grams:
                raise ServiceError(f"Lot {lot.lot_number} has less than {grams.normalize():f} {lot.unit} on hand.",
                                   fields={"lots": [f"Not enough left in lot {lot.lot_number}."]})
            left = lot.quantity_on_hand - grams
            StockLot.objects.filter(pk=pk).update(quantity_on_hand=left, **({"status": LotStatus.EXHAUSTED} if left == 0 else {}))


def stock_lots_expire(*, today: dt.date | None = None) -> int:
    """Mark released or quarantined lots past their expiry as expired (a daily beat task)."""
    today = today or timezone.localdate()
    return StockLot.objects.filter(status__in=[LotStatus.RELEASED, LotStatus.QUARANTINED], expires_on__lt=today).update(
        status=LotStatus.EXPIRED
    )
