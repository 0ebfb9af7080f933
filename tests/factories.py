"""factory_boy factories for the personas and objects the suite needs."""

from __future__ import annotations

import datetime as dt

import factory

from orders.models import Clinic, Prescriber, PrescriberLicence
from portal.models import User
from portal.npi import npi_check_digit

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    first_name = "Test"
    last_name = factory.LazyAttribute(lambda o: o.username.title())
    role = "prescriber"

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save()


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Clinic {n}")


def _npi(n: int) -> str:
    first_nine = f"1{n:08d}"
    return first_nine + str(npi_check_digit(first_nine))


class PrescriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prescriber
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, role="prescriber")
    clinic = factory.SubFactory(ClinicFactory)
    npi = factory.Sequence(lambda n: _npi(n + 1000))
    credentials = "MD"

    @factory.post_generation
    def states(self, create, extracted, **kwargs):
        for state in extracted or []:
            PrescriberLicence.objects.create(
                prescriber=self, state=state, number=f"{state}-{self.npi[-4:]}", expires_on=dt.date(2099, 12, 31)
            )
