from django.urls import path, re_path

from fulfillment.fhir import api

# A MedicationRequest and its Task share the preparation's id; a MedicationDispense is a job (fill).
urlpatterns = [
    path("", api.System.as_view(), name="fhir-system"),
    path("metadata", api.Metadata.as_view(), name="fhir-metadata"),
    path("MedicationRequest", api.MedicationRequestType.as_view(), name="fhir-medication-requests"),
    path("MedicationRequest/<str:preparation_id>", api.MedicationRequestInstance.as_view(), name="fhir-medication-request"),
    path("Task", api.TaskType.as_view(), name="fhir-tasks"),
    path("Task/<str:preparation_id>", api.TaskInstance.as_view(), name="fhir-task"),
    path("MedicationDispense", api.MedicationDispenseType.as_view(), name="fhir-medication-dispenses"),
    path("MedicationDispense/<str:job_id>", api.MedicationDispenseInstance.as_view(), name="fhir-medication-dispense"),
    path("Patient/<str:patient_id>", api.PatientInstance.as_view(), name="fhir-patient"),
    re_path(r"^(?P<rest>.+)$", api.Unsupported.as_view(), name="fhir-unsupported"),
]
