"""Suite-wide fixtures: personas, API clients, and the gates for real services."""

from __future__ import annotations

import os

import pytest

from tests.factories import (  # noqa: F401 - fixtures below use them
    ClinicFactory,
    PrescriberFactory,
    UserFactory,
)

PASSWORD = "correct-horse-battery-9"

# Playwright's sync API runs an event loop in the test thread (microsoft/playwright-pytest#29), which
# would make Django refuse ORM calls from browser tests; tests that start processes drop this variable.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """The system Chromium (no browser download), with the flags this closed network needs."""
    from tests.services import CHROMIUM

    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"],
    }


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_runtest_setup(item):
    """Integration tests need PostgreSQL and Redis, browser tests need Chromium. When one is
    missing the test is skipped, or fails when REQUIRE_SERVICES / REQUIRE_BROWSER is set."""
    needs = []
    if item.get_closest_marker("integration"):
        needs += [("PostgreSQL", "PORTAL_TEST_POSTGRES", "REQUIRE_SERVICES"), ("Redis", "PORTAL_TEST_REDIS", "REQUIRE_SERVICES")]
    if item.get_closest_marker("browser"):
        needs += [("Chromium", "PORTAL_TEST_BROWSER", "REQUIRE_BROWSER")]
    for label, have_var, require_var in needs:
        if os.environ.get(have_var) != "1":
            message = f"{label} is not available here"
            if _flag(require_var):
                pytest.fail(f"{message} and {require_var}=1", pytrace=False)
            pytest.skip(message)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and lockouts live in the cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def rivera(db):
    """Prescriber at clinic A, licensed in CA, NY, TX, FL and WA."""
    return PrescriberFactory(user__username="rivera", clinic__name="Northstar Telederm", states=["CA", "NY", "TX", "FL", "WA"])


@pytest.fixture
def chen(db):
    """Prescriber at clinic B (another clinic), licensed in CA only."""
    return PrescriberFactory(user__username="chen", clinic__name="Harbor Skin Telehealth", states=["CA"])


@pytest.fixture
def pharmacist(db):
    return UserFactory(username="pharm", role="pharmacist")


@pytest.fixture
def technician(db):
    return UserFactory(username="techie", role="technician")


@pytest.fixture
def pharmacy_admin(db):
    return UserFactory(username="padmin", role="pharmacy_admin", is_staff=True, is_superuser=True)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def api_as(api_client):
    """api_as(user): an API client that sends that user's fresh token."""
    from portal.services import api_token_issue

    def make(user):
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)}")
        return client

    return make


SEED = None


def seed_formulary() -> dict:
    import json

    from portal.demo import SEED_FORMULARY

    global SEED
    if SEED is None:
        with open(SEED_FORMULARY, encoding="utf-8") as handle:
            SEED = json.load(handle)
    return SEED


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the starter formulary once into the test database; tests roll back on top of it."""
    from formulary.interchange import formulary_import

    with django_db_blocker.unblock():
        formulary_import(data=seed_formulary())


@pytest.fixture
def ready(formulary, technician):
    """The demo pharmacy (licences) and released, in-date stock of everything: orders can be made and worked."""
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)


@pytest.fixture
def staff(api_as, pharmacist, technician):
    """API clients for the pharmacist and the technician."""
    return {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}


@pytest.fixture
def formulary(db):
    """The starter formulary, loaded (again, after a transactional test flushed it)."""
    from formulary.interchange import formulary_import
    from formulary.models import FormularyState

    if not FormularyState.objects.exists():
        formulary_import(data=seed_formulary())
    return seed_formulary()
