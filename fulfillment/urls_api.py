from django.urls import path

from fulfillment import api, api_metrics, api_refills

urlpatterns = [
    path("orders/<uuid:order_id>/approve/", api.OrderApprove.as_view(), name="api-order-approve"),
    path("orders/<uuid:order_id>/reject/", api.OrderReject.as_view(), name="api-order-reject"),
    path("orders/<uuid:order_id>/request-clarification/", api.OrderClarify.as_view(), name="api-order-clarify"),
    path("orders/<uuid:order_id>/rush/accept/", api.OrderRushAccept.as_view(), name="api-order-rush-accept"),
    path("orders/<uuid:order_id>/rush/decline/", api.OrderRushDecline.as_view(), name="api-order-rush-decline"),
    path("metrics/", api_metrics.Metrics.as_view(), name="api-metrics"),
    path("jobs/", api.JobList.as_view(), name="api-jobs"),
    path("jobs/claim-next/", api.JobClaimNext.as_view(), name="api-jobs-claim-next"),
    path("jobs/<uuid:job_id>/claim/", api.JobClaim.as_view(), name="api-job-claim"),
    path("jobs/<uuid:job_id>/release/", api.JobClaimGiveBack.as_view(), name="api-job-release"),
    path("jobs/<uuid:job_id>/worksheet/", api.JobWorksheet.as_view(), name="api-job-worksheet"),
    path("jobs/<uuid:job_id>/record/", api.JobRecord.as_view(), name="api-job-record"),
    path("jobs/<uuid:job_id>/qc/", api.JobQC.as_view(), name="api-job-qc"),
    path("jobs/<uuid:job_id>/verify/", api.JobVerify.as_view(), name="api-job-verify"),
    path("jobs/<uuid:job_id>/label/", api.JobLabel.as_view(), name="api-job-label"),
    path("jobs/<uuid:job_id>/compounding-record/", api.JobCompoundingRecord.as_view(), name="api-job-compounding-record"),
    path("jobs/<uuid:job_id>/compounding-record/deviations/", api.JobRecordDeviation.as_view(), name="api-job-record-deviations"),
    path("jobs/<uuid:job_id>/hold/", api.JobHold.as_view(), name="api-job-hold"),
    path("jobs/<uuid:job_id>/resume/", api.JobResume.as_view(), name="api-job-resume"),
    path("preparations/<uuid:preparation_id>/", api_refills.PreparationDetail.as_view(), name="api-preparation"),
    path("preparations/<uuid:preparation_id>/refills/", api_refills.PreparationRefills.as_view(), name="api-preparation-refills"),
    path("preparations/<uuid:preparation_id>/renewal-requests/", api_refills.PreparationRenewalRequests.as_view(),
         name="api-preparation-renewals"),
    path("renewal-requests/<uuid:renewal_id>/approve/", api_refills.RenewalApprove.as_view(), name="api-renewal-approve"),
    path("renewal-requests/<uuid:renewal_id>/deny/", api_refills.RenewalDeny.as_view(), name="api-renewal-deny"),
    path("shipments/", api.ShipmentCreate.as_view(), name="api-shipments"),
    path("shipments/<uuid:shipment_id>/", api.ShipmentDetail.as_view(), name="api-shipment"),
    path("carriers/<str:carrier>/webhook/", api.CarrierWebhook.as_view(), name="api-carrier-webhook"),
]
