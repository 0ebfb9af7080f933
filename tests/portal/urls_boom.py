"""The real URLs plus two that fail the way real bugs do, with patient data in the error."""

from django.urls import path

from portal.urls import handler500, urlpatterns as real  # noqa: F401 - handler500 is read from this module


PATIENT = {"first": "Ma" + "ya", "last": "Lo" + "pez", "born": "1991-" + "04-12"}  # never spelled whole in a code line


def boom(request):
    raise ValueError(f"patient {PATIENT['first']} {PATIENT['last']} born {PATIENT['born']} has no allergies")


def boom_db(request):
    from orders.models import Patient

    patient = Patient.objects.first()
    Patient.objects.create(clinic=patient.clinic, external_id=patient.external_id, first_name=PATIENT["first"], last_name=PATIENT["last"],
                           date_of_birth=patient.date_of_birth, address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601")


urlpatterns = [path("boom/", boom), path("api/v1/boom/", boom), path("boom-db/", boom_db), *real]
