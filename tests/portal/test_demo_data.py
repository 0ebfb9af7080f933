"""The demo data: what `make run` loads, idempotently."""

import datetime as dt

import pytest

from formulary.models import Base, LotStatus, Material, StockLot
from orders.models import Clinic, Patient, Prescriber
from portal.demo import demo_data_load
from portal.models import Pharmacy, PharmacyLicence, User

pytestmark = pytest.mark.django_db


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (User, Clinic, Prescriber, Patient, Pharmacy, PharmacyLicence, Material, Base, StockLot)
    }


def test_demo_data_is_idempotent():
    demo_data_load(password="demo-password-123")
    first = counts()
    demo_data_load(password="demo-password-123")
    assert counts() == first
    assert first["User"] == 6 and first["Clinic"] == 2 and first["Patient"] == 4  # five who sign in, and the platform account
    assert [c.name for c in Clinic.objects.filter(platform_accounts__username="platform")] == ["Northstar Telederm"]


def test_demo_people_and_licences():
    demo_data_load(password="demo-password-123")
    rivera = Prescriber.objects.get(user__username="dr.rivera")
    chen = Prescriber.objects.get(user__username="dr.chen")
    assert rivera.clinic.name == "Northstar Telederm"
    assert chen.clinic.name == "Harbor Skin Telehealth"
    today = dt.date(2026, 11, 29)
    assert rivera.licensed_states_on(today) == ["CA", "FL", "NY", "TX", "WA"]
    assert chen.licensed_states_on(today) == ["CA"]
    assert Patient.objects.filter(clinic=rivera.clinic).count() == 3
    assert Patient.objects.filter(clinic=chen.clinic).count() == 1
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.role == "pharmacy_admin"
    for username in ("dr.rivera", "dr.chen", "pharmacist", "tech", "admin"):
        assert User.objects.get(username=username).check_password("demo-password-123")


def test_demo_pharmacy_licences():
    demo_data_load(password="demo-password-123")
    pharmacy = Pharmacy.objects.get()
    assert pharmacy.resident_state == "FL"
    states = set(pharmacy.licences.values_list("state", flat=True))
    assert "IA" not in states and len(states) == 51  # 50 states + DC + PR, less Iowa
    nv = pharmacy.licences.get(state="NV")
    assert nv.expires_on == dt.date(2025, 2, 28) and not nv.is_active_on(dt.date(2026, 11, 29))


def test_demo_stock_two_released_in_date_lots_of_everything():
    demo_data_load(password="demo-password-123")
    today = dt.date.today()
    for item in list(Material.objects.all()) + list(Base.objects.all()):
        lots = item.lots.filter(status=LotStatus.RELEASED, expires_on__gt=today)
        assert lots.count() >= 2, item.code
