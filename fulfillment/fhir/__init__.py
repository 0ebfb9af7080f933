"""FHIR R4 for telehealth platforms (docs/fhir.md): MedicationRequests in, through the order services;
Task, MedicationDispense and webhook payloads out. Built on fhir.resources' R4B models."""
