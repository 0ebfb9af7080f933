"""NPI check digits and licence activity."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from orders.models import Prescriber
from portal.npi import npi_check_digit, validate_npi


def test_known_valid_npi_passes():
    validate_npi("1234567893")  # the CMS worked example
    assert npi_check_digit("123456789") == 3


def test_wrong_check_digit_is_refused_with_a_clear_message():
    with pytest.raises(ValidationError) as caught:
        validate_npi("1234567890")
    assert "wrong check digit" in caught.value.messages[0]
    assert "should be 3" in caught.value.messages[0]


@pytest.mark.parametrize("value", ["123456789", "12345678901", "12345abcde", "3234567893"])
def test_malformed_npi_is_refused(value):
    with pytest.raises(ValidationError):
        validate_npi(value)


@pytest.mark.django_db
def test_prescriber_with_bad_npi_fails_model_validation(rivera):
    rivera.npi = "1234567890"
    with pytest.raises(ValidationError) as caught:
        rivera.full_clean()
    assert "npi" in caught.value.message_dict


@pytest.mark.django_db
def test_expired_licence_counts_as_inactive(rivera):
    licence = rivera.licences.get(state="CA")
    licence.expires_on = dt.date(2025, 2, 28)
    licence.save()
    assert licence.is_active_on(dt.date(2025, 2, 28))
    assert not licence.is_active_on(dt.date(2025, 3, 1))
    prescriber = Prescriber.objects.get(pk=rivera.pk)
    assert "CA" not in prescriber.licensed_states_on(dt.date(2025, 3, 1))
    assert "CA" in prescriber.licensed_states_on(dt.date(2025, 2, 1))
    assert "CA" not in {lic.state for lic in prescriber.licences.active_on(dt.date(2026, 1, 1))}
