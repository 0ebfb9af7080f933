from django.urls import path

from fulfillment import views, views_metrics

urlpatterns = [
    path("verify/", views.verification_queue, name="verification-queue"),
    path("verify/<uuid:order_id>/", views.verification_detail, name="verification-detail"),
    path("verify/<uuid:order_id>/approve/", views.verification_act, {"action": "approve"}, name="verification-approve"),
    path("verify/<uuid:order_id>/reject/", views.verification_act, {"action": "reject"}, name="verification-reject"),
    path("verify/<uuid:order_id>/clarify/", views.verification_act, {"action": "clarify"}, name="verification-clarify"),
    path("verify/<uuid:order_id>/beyond-use-date/", views.verification_bud, name="verification-bud"),
    path("verify/<uuid:order_id>/master-formula/", views.verification_mfr, name="verification-mfr"),
    path("queue/", views.queue, name="queue"),
    path("metrics/", views_metrics.metrics_page, name="metrics"),
    path("metrics.csv", views_metrics.metrics_csv, name="metrics-csv"),
    path("rush/<uuid:order_id>/accept/", views.rush_answer, {"accept": True}, name="rush-accept"),
    path("rush/<uuid:order_id>/decline/", views.rush_answer, {"accept": False}, name="rush-decline"),
    path("queue/claim-next/", views.queue_claim_next, name="queue-claim-next"),
    path("jobs/<uuid:job_id>/", views.job_page, name="job"),
    path("jobs/<uuid:job_id>/worksheet-status/", views.job_worksheet_status, name="job-worksheet-status"),
    path("jobs/<uuid:job_id>/worksheet-v<int:version>.pdf", views.job_worksheet_pdf, name="job-worksheet-pdf"),
    path("jobs/<uuid:job_id>/label.pdf", views.job_label_pdf, name="job-label-pdf"),
    path("jobs/<uuid:job_id>/compounding-record/", views.job_compounding_record, name="job-compounding-record"),
    path("jobs/<uuid:job_id>/compounding-record.pdf", views.job_compounding_record_pdf, name="job-compounding-record-pdf"),
    path("jobs/<uuid:job_id>/compounding-record/deviations/", views.job_record_deviation, name="job-record-deviation"),
    path("shipments/<uuid:shipment_id>/labels.pdf", views.shipment_labels_pdf, name="shipment-labels-pdf"),
] + [
    path(f"jobs/<uuid:job_id>/{action}/", views.job_act, {"action": action}, name=f"job-{action}")
    for action in ("claim", "release", "worksheet", "record", "qc", "verify", "ship", "hold", "resume")
]
