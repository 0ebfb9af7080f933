"""I2: the API parsed forms and multipart uploads everywhere (the anonymous token exchange spooled a
5 MB file part). Now JSON is the only body the API parses; only the lot upload takes multipart."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_the_token_exchange_refuses_multipart_and_forms(client):
    upload = client.post("/api/v1/auth/token/", {"username": "x", "password": "y", "file": SimpleUploadedFile("a.bin", b"\0" * 1024)})
    assert upload.status_code == 415 and upload.json()["error"]["code"] == "unsupported_media_type"
    form = client.post("/api/v1/auth/token/", "username=x&password=y", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415


def test_the_lot_upload_still_takes_multipart(api_as, technician, formulary):
    certificate = SimpleUploadedFile("coa.pdf", b"%PDF-1.4 certificate", content_type="application/pdf")
    response = api_as(technician).post("/api/v1/formulary/lots/", {
        "material": "niacinamide", "lot_number": "NIA-I2", "supplier": "DSM", "expires_on": "2030-06-30",
        "received_on": str(timezone.localdate()), "quantity": "10", "certificate": certificate}, format="multipart")
    assert response.status_code == 201, response.json()
