"""A refill follows the master formulation record (issues 18 and 19, USP <795> 7.2): a fill requested after a new
version was approved links to it; a fill whose record was retired with no approved version, or is flagged for
review, is not made from a stale recipe: a draft is proposed (as at verification) or the flag stands, the request
says so in plain words, and the fill cannot be claimed until a pharmacist approves or reviews it."""

from __future__ import annotations

import datetime as dt

import pytest

from formulary import mfrs
from formulary.models import MasterFormulationRecord, MfrStatus
from fulfillment.models import Job
from orders.models import Preparation
from tests.builders import released_job
from tests.fulfillment.test_refills import START, prep_id, ship

pytestmark = pytest.mark.django_db


def _refill(api_as, rivera, order):
    answer = api_as(rivera.user).post(f"/api/v1/preparations/{prep_id(order)}/refills/", {}, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json(), Job.objects.get(preparation__public_id=prep_id(order), fill=1)


def test_a_refill_links_to_the_newly_approved_version(api_as, rivera, staff, ready, pharmacist, time_machine):
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-MFR-00")
    v1 = Preparation.objects.get(public_id=prep_id(order)).mfr
    v2 = mfrs.mfr_approve(mfr=mfrs.mfr_revise(mfr=v1, by=pharmacist), by=pharmacist)  # v1 retires
    time_machine.move_to(START + dt.timedelta(days=22), tick=False)
    answer, job = _refill(api_as, rivera, order)
    assert answer["message"] == ""
    assert Preparation.objects.get(public_id=prep_id(order)).mfr == v2
    assert staff["tech"].post(f"/api/v1/jobs/{job.public_id}/claim/").status_code == 200


def test_a_refill_whose_record_was_retired_waits_for_a_pharmacist_to_approve_the_proposed_one(api_as, rivera, staff, ready, pharmacist,
                                                                                            time_machine):
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-MFR-01")
    v1 = Preparation.objects.get(public_id=prep_id(order)).mfr
    mfrs.mfr_retire(mfr=v1, by=pharmacist)
    time_machine.move_to(START + dt.timedelta(days=22), tick=False)
    answer, job = _refill(api_as, rivera, order)
    draft = Preparation.objects.get(public_id=prep_id(order)).mfr
    assert draft.status == MfrStatus.DRAFT and draft.formulation_key == v1.formulation_key and draft.version == 2
    assert "waits for a pharmacist" in answer["message"] and draft.label in answer["message"]

    refused = staff["tech"].post(f"/api/v1/jobs/{job.public_id}/claim/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "MFR_NOT_APPROVED"
    assert "is not approved" in refused.json()["error"]["message"]
    assert staff["tech"].post("/api/v1/jobs/claim-next/").status_code == 404  # the queue skips it
    job.refresh_from_db()
    assert job.status == "queued"

    assert staff["pharmacist"].post(f"/api/v1/mfrs/{draft.public_id}/approve/").status_code == 200
    assert staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"] == str(job.public_id)


def test_a_refill_whose_record_is_flagged_for_review_waits_for_the_review(api_as, rivera, staff, ready, pharmacist, time_machine):
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-MFR-02")
    v1 = Preparation.objects.get(public_id=prep_id(order)).mfr
    mfrs.mfrs_flag_for_review(item_codes=["niacinamide"], reason="Niacinamide's supplier changed")
    time_machine.move_to(START + dt.timedelta(days=22), tick=False)
    answer, job = _refill(api_as, rivera, order)
    assert "flagged for review" in answer["message"] and "Niacinamide's supplier changed" in answer["message"]
    refused = staff["tech"].post(f"/api/v1/jobs/{job.public_id}/claim/")
    assert refused.status_code == 409 and "flagged for review" in refused.json()["error"]["message"]
    mfrs.mfr_review_clear(mfr=MasterFormulationRecord.objects.get(pk=v1.pk), by=pharmacist)
    assert staff["tech"].post(f"/api/v1/jobs/{job.public_id}/claim/").status_code == 200
