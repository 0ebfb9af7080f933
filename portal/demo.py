"""Demo data: loaded by `make run`, idempotent (a second run adds nothing and changes nothing
but the demo users' passwords, so DEMO_PASSWORD can be changed between runs)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from formulary.interchange import formulary_import
from formulary.models import AllergenGroup, Base, FormularyState, LotStatus, Material, StockLot
from orders.models import Clinic, Patient, Prescriber, PrescriberLicence
from portal.models import Pharmacy, PharmacyLicence, Role, User
from portal.npi import npi_check_digit
from portal.states import USState

DEFAULT_DEMO_PASSWORD = "compound-demo-2026"
SEED_FORMULARY = Path(__file__).resolve().parent.parent / "formulary" / "seed" / "formulary.json"
LICENCE_EXPIRY = dt.date(2028, 12, 31)
NV_EXPIRED = dt.date(2025, 2, 28)


def _npi(first_nine: str) -> str:
    return first_nine + str(npi_check_digit(first_nine))


DEMO_USERS = [
    # username, role, first, last, email, superuser
    ("dr.rivera", Role.PRESCRIBER, "Ana", "Rivera", "ana.rivera@northstar.example", False),
    ("dr.chen", Role.PRESCRIBER, "Wei", "Chen", "wei.chen@harborskin.example", False),
    ("pharmacist", Role.PHARMACIST, "Priya", "Shah", "pharmacist@northwind.example", False),
    ("tech", Role.TECHNICIAN, "Sam", "Okafor", "tech@northwind.example", False),
    ("admin", Role.PHARMACY_ADMIN, "Dana", "Brooks", "admin@northwind.example", True),
]

DEMO_PLATFORM = "platform"

PRESCRIBERS = {
    "dr.rivera": ("Northstar Telederm", _npi("123456789"), "MD", ["CA", "NY", "TX", "FL", "WA"]),
    "dr.chen": ("Harbor Skin Telehealth", _npi("198765432"), "NP", ["CA"]),
}

PATIENTS = [
    # clinic, external id, first, last, dob, sex, state, city, ZIP, allergies
    ("Northstar Telederm", "NS-1001", "Maya", "Lopez", dt.date(1991, 4, 12), "female", "CA", "Oakland", "94607", ["TREE_NUTS"]),
    ("Northstar Telederm", "NS-1002", "James", "Okoro", dt.date(1984, 9, 3), "male", "NY", "Brooklyn", "11201", []),
    ("Northstar Telederm", "NS-1003", "Lena", "Fischer", dt.date(1978, 1, 27), "female", "TX", "Austin", "78701", ["FRAGRANCE", "PARABENS"]),
    ("Harbor Skin Telehealth", "HS-2001", "Owen", "Park", dt.date(1999, 11, 8), "male", "CA", "San Diego", "92101", ["DAIRY"]),
]


def demo_formulary_load() -> FormularyState:
    """Load the seed formulary once; a database that already has one keeps its own edits."""
    state = FormularyState.objects.first()
    if state is not None:
        return state
    with open(SEED_FORMULARY, encoding="utf-8") as handle:
        return formulary_import(data=json.load(handle))


def _demo_users(password: str) -> dict[str, User]:
    users = {}
    for username, role, first, last, email, superuser in DEMO_USERS:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={"role": role, "first_name": first, "last_name": last, "email": email},
        )
        user.role, user.is_staff, user.is_superuser = role, superuser, superuser
        user.set_password(password)
        user.save()
        users[username] = user
    return users


def _demo_pharmacy() -> Pharmacy:
    pharmacy, _ = Pharmacy.objects.get_or_create(
        name="Northwind Compounding Pharmacy",
        defaults={"resident_state": "FL", "address": "400 Harbor Blvd, Tampa, FL 33602", "phone": "(813) 555-0140"},
    )
    for state in USState.values:
        if state == "IA":  # not licensed to ship to Iowa
            continue
        expires = NV_EXPIRED if state == "NV" else LICENCE_EXPIRY
        PharmacyLicence.objects.get_or_create(
            pharmacy=pharmacy, state=state, defaults={"number": f"PH-{state}-{4000 + len(state)}", "expires_on": expires}
        )
    return pharmacy


def _demo_clinics(users: dict[str, User]) -> dict[str, Clinic]:
    clinics = {}
    for username, (clinic_name, npi, credentials, states) in PRESCRIBERS.items():
        clinic, _ = Clinic.objects.get_or_create(name=clinic_name)
        clinics[clinic_name] = clinic
        prescriber, _ = Prescriber.objects.get_or_create(
            user=users[username], defaults={"clinic": clinic, "npi": npi, "credentials": credentials}
        )
        for state in states:
            PrescriberLicence.objects.get_or_create(
                prescriber=prescriber, state=state, number=f"{state}-{npi[-5:]}", defaults={"expires_on": LICENCE_EXPIRY}
            )
    return clinics


def _demo_platform(clinic: Clinic, password: str) -> User:
    """A telehealth platform's account (API only), acting for Northstar Telederm: `manage.py api_token platform`."""
    user, _ = User.objects.get_or_create(username=DEMO_PLATFORM, defaults={"role": Role.PLATFORM, "first_name": "Demo platform"})
    user.set_password(password)
    user.save()
    clinic.platform_accounts.add(user)
    return user


def _demo_patients(clinics: dict[str, Clinic]) -> None:
    groups = {g.code: g for g in AllergenGroup.objects.all()}
    for clinic_name, external_id, first, last, dob, sex, state, city, postal_code, allergies in PATIENTS:
        patient, created = Patient.objects.get_or_create(
            clinic=clinics[clinic_name],
            external_id=external_id,
            defaults={
                "first_name": first,
                "last_name": last,
                "date_of_birth": dob,
                "sex": sex,
                "email": f"{first.lower()}.{last.lower()}@patient.example",
                "phone": "(555) 010-2000",
                "address_line1": "12 Demo Street",
                "city": city,
                "state": state,
                "postal_code": postal_code,
            },
        )
        if created:
            patient.allergies.set(groups[code] for code in allergies)


def _demo_stock(received_by: User) -> int:
    """Two released, in-date lots of every material and base, enough for dozens of orders."""
    today = timezone.localdate()
    made = 0
    items = [("material", m, Decimal("500")) for m in Material.objects.active()]
    items += [("base", b, Decimal("20000")) for b in Base.objects.active()]
    have = {}
    for lot in StockLot.objects.values("material_id", "base_id", "lot_number"):
        have.setdefault((lot["material_id"], lot["base_id"]), set()).add(lot["lot_number"])
    new = []
    for kind, item, quantity in items:
        key = (item.pk, None) if kind == "material" else (None, item.pk)
        for index, (months, supplier) in enumerate(((8, "Croda Inc."), (20, "Lubrizol Life Science"))):
            lot_number = f"{item.code[:10].upper()}-{index + 1:02d}"
            if lot_number in have.get(key, set()):
                continue
            new.append(
                StockLot(
                    **{kind: item},
                    lot_number=lot_number,
                    supplier=supplier,
                    received_on=today - dt.timedelta(days=30),
                    expires_on=today + dt.timedelta(days=30 * months),
                    quantity_received=quantity,
                    quantity_on_hand=quantity,
                    status=LotStatus.RELEASED,
                    received_by=received_by,
                )
            )
    StockLot.objects.bulk_create(new)
    made += len(new)
    return made


@transaction.atomic
def demo_data_load(*, password: str) -> dict:
    demo_formulary_load()
    users = _demo_users(password)
    _demo_pharmacy()
    clinics = _demo_clinics(users)
    _demo_platform(clinics["Northstar Telederm"], password)
    _demo_patients(clinics)
    lots = _demo_stock(users["tech"])
    return {"users": [u[0] for u in DEMO_USERS], "new_lots": lots}
