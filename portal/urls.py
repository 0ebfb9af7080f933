from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from csp.decorators import csp_update

from portal import api, health, patient_status, views, views_account, views_audit, views_session, views_signin

api_v1 = [
    # The benchmark app (bench/throughput.sh) is installed only when BENCH_ENDPOINTS=1.
    *([path("bench/", include("bench.urls"))] if apps.is_installed("bench") else []),
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("formulary/", include("formulary.urls_api")),
    path("mfrs/", include("formulary.urls_api_mfrs")),
    path("", include("orders.urls_api")),
    path("", include("fulfillment.urls_api")),
    path("", include("fulfillment.notifications.urls_api")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    # Everything under /s/ is the patient page, so any malformed link gets the same plain answer.
    re_path(r"^s/(?P<token>.*?)/?$", patient_status.patient_status, name="patient-status"),
    path("prescriber/", views.prescriber_home, name="prescriber-home"),
    path("pharmacy/", views.pharmacist_home, name="pharmacist-home"),
    path("pharmacy/bench/", views.technician_home, name="technician-home"),
    path("pharmacy/admin/", views.pharmacy_admin_home, name="pharmacy-admin-home"),
    path("pharmacy/admin/audit/", views_audit.audit_page, name="audit"),
    path("accounts/login/", views_signin.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/setup/", views_account.two_factor_setup, name="two-factor-setup"),
    path("accounts/two-factor/verify/", views_account.two_factor_verify, name="two-factor-verify"),
    path("accounts/security/", views_account.security_page, name="security"),
    path("accounts/session/keep-alive/", views_session.session_keep_alive, name="session-keep-alive"),
    path("accounts/session/resume/", views_session.session_resume, name="session-resume"),
    path("accounts/security/recovery-codes/", views_account.recovery_codes_new, name="recovery-codes-new"),
    path("accounts/security/tokens/", views_account.token_create, name="token-create"),
    path("accounts/security/tokens/<int:token_id>/revoke/", views_account.token_revoke, name="token-revoke"),
    path("accounts/password-reset/", views_signin.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("formulary/", include("formulary.urls")),
    path("pharmacy/mfrs/", include("formulary.urls_mfrs")),
    path("pharmacy/", include("fulfillment.urls")),
    path("", include("orders.urls")),
    path("", include("fulfillment.urls_prescriber")),
    path("", include("fulfillment.notifications.urls")),
    # The admin site has no sign-in form of its own: the portal's page (lockout, second factor) signs staff in.
    path("admin/login/", views_signin.admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("fhir/r4/", include("fulfillment.fhir.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI starts itself with an inline script and styles: its page alone allows them.
    path("api/docs/", csp_update({"script-src": ["'unsafe-inline'"], "style-src": ["'unsafe-inline'"]})(
        SpectacularSwaggerView.as_view(url_name="schema")), name="api-docs"),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"
