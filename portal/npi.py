"""National Provider Identifier check digit (CMS: Luhn over the prefix 80840 + the first 9 digits)."""

from django.core.exceptions import ValidationError


def npi_check_digit(first_nine: str) -> int:
    total = 24  # the constant contribution of the 80840 prefix
    for index, char in enumerate(reversed(first_nine)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def validate_npi(value: str) -> None:
    if not isinstance(value, str) or len(value) != 10 or not value.isdigit():
        raise ValidationError("An NPI is exactly 10 digits.", code="npi_format")
    if value[0] not in "12":
        raise ValidationError("An NPI starts with 1 or 2.", code="npi_format")
    expected = npi_check_digit(value[:9])
    if int(value[9]) != expected:
        raise ValidationError(
            f"NPI {value} has a wrong check digit: the last digit should be {expected}. Check the number for a typo.",
            code="npi_check_digit",
        )
