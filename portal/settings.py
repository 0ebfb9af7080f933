"""Settings for the portal, all from the environment (see README "Configuration").

PORTAL_ENV selects the mode: `development` (default; safe local defaults, SQLite and an
embedded broker), `test` (used by the suite) or `production` (refuses unsafe settings).
"""

from __future__ import annotations

from pathlib import Path

from portal.env import (
    ConfigError,
    check_broker_url,
    env_bool,
    env_dates,
    env_int,
    env_list,
    env_str,
    env_time,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

PORTAL_ENV = env_str("PORTAL_ENV", "development").strip().lower()
if PORTAL_ENV not in {"development", "test", "production"}:
    raise ConfigError(f"PORTAL_ENV={PORTAL_ENV!r} is not one of development, test, production")
PRODUCTION = PORTAL_ENV == "production"

DEV_SECRET_KEY = "dev-insecure-3f1c8a0e-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", default=not PRODUCTION and PORTAL_ENV == "development")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

if PRODUCTION:
    if DEBUG:
        raise ConfigError("DEBUG is on in production: set DEBUG=0")
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ConfigError("SECRET_KEY is the development key or shorter than 50 characters in production")
    if not ALLOWED_HOSTS:
        raise ConfigError("ALLOWED_HOSTS is empty in production: list the site's host names")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "portal",
    "formulary",
    "orders",
    "fulfillment",
]
# Benchmark-only code (the bare endpoint of bench/throughput.sh, `manage.py generate_orders`) lives in
# the `bench` app, installed only when asked for and never in production.
BENCH_ENDPOINTS = env_bool("BENCH_ENDPOINTS", False) and not PRODUCTION
if BENCH_ENDPOINTS:
    INSTALLED_APPS.append("bench")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.NoStoreMiddleware",
    "portal.middleware.PatientPagesMiddleware",
    "portal.middleware.RejectNulMiddleware",
    "portal.middleware.JsonBodyGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.SessionEndedMiddleware",
    "portal.history.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.middleware.SessionLimitsMiddleware",
    "portal.two_factor.SecondFactorMiddleware",
    "portal.middleware.ServiceErrorMiddleware",
]

# Change history (portal/history.py): append-only tables written by PostgreSQL triggers, each row
# carrying its request's context (who, url, address) rather than pointing at a shared context row.
PGHISTORY_APPEND_ONLY = True

# Two-factor sign-in (portal/two_factor.py): the name authenticator apps show for our codes.
OTP_TOTP_ISSUER = "Compounded topicals portal"
PGHISTORY_CONTEXT_FIELD = __import__("pghistory").ContextJSONField()

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.session",
            ],
        },
    },
    {
        # Plain-text emails: nothing to escape in text/plain (HTML parts use the default engine).
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {"autoescape": False},
    },
]

# --- Database -----------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL", "").strip()
if _database_url:
    DATABASES = {"default": parse_database_url("DATABASE_URL", _database_url, base_dir=BASE_DIR)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default keeps its file in var/
    DATABASES = {"default": parse_database_url("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}", base_dir=BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background work ----------------------------------------------------------------------
# With no broker configured, Celery uses kombu's filesystem transport in var/broker: the same
# task code runs in a real worker process that `make run` starts, with nothing else to install.
_broker_url = env_str("CELERY_BROKER_URL", "").strip()
BROKER_CONFIGURED = bool(_broker_url)
BROKER_DIR = VAR_DIR / "broker"
if BROKER_CONFIGURED:
    CELERY_BROKER_URL = check_broker_url("CELERY_BROKER_URL", _broker_url)
    # A message held by a worker that died comes back after the visibility timeout (kombu's restore
    # sweep runs every 10 s); the database sweeps re-send sooner, and every task is idempotent.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT", 3600, minimum=10),
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # Exchange bindings; without it kombu writes them to ./control in whatever folder the worker started in.
        "control_folder": str(BROKER_DIR / "control"),
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
# Tasks record their effects in the database; no result backend holds anything (no PHI in Redis).
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90, minimum=2)
CELERY_WORKER_MAX_TASKS_PER_CHILD = 200
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 400_000  # KiB
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 10
# A worksheet still queued this long after it was asked for lost its message: the beat sweep re-sends it.
WORKSHEET_RESEND_AFTER_SECONDS = env_int("WORKSHEET_RESEND_AFTER_SECONDS", 30, minimum=1)  # on a warm shutdown, give running tasks 10 s, then requeue them
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Heavy PDF renders get their own queue, so they never hold up notifications and heartbeats.
CELERY_TASK_ROUTES = {
    "fulfillment.tasks.render_worksheet": {"queue": "pdf"},
    "fulfillment.tasks.render_order_print": {"queue": "pdf"},
    "fulfillment.tasks.render_record_pdf": {"queue": "pdf"},
    # Webhooks have their own queue and worker pool: a slow receiver never delays an email or a worksheet.
    "fulfillment.notifications.tasks.deliver_webhook": {"queue": "webhooks"},
    "fulfillment.notifications.tasks.send_email": {"queue": "notify"},
}
CELERY_TIMEZONE = "UTC"

# --- Cache: lockouts and rate limits ----------------------------------------------------------
# Every web process must count together. Production: Redis (CACHE_URL), required. The embedded default
# (development without CACHE_URL): Django's database cache in the portal's own database (the SQLite
# file; `make run` creates its table), with an increment that cannot be raced (portal/cache.py).
# The suite without Redis: in-process memory.
_cache_url = env_str("CACHE_URL", "").strip()
if _cache_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": check_broker_url("CACHE_URL", _cache_url)}}
elif PRODUCTION:
    raise ConfigError("CACHE_URL is not set in production: lockouts and rate limits must be shared by every process "
                      "(use redis://host:6379/1)")
elif PORTAL_ENV == "test":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {"default": {"BACKEND": "portal.cache.AtomicDatabaseCache", "LOCATION": "portal_cache",
                          # counters must not be culled while their window runs
                          "OPTIONS": {"MAX_ENTRIES": 1_000_000, "CULL_FREQUENCY": 10}}}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # older hashes upgrade to Argon2 at the next sign-in
]
if PORTAL_ENV == "test":
    # The suite creates hundreds of users; a slow hash there buys nothing (one test checks Argon2).
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]

SESSION_COOKIE_HTTPONLY = True
# Staff and prescriber sessions end after 15 idle minutes (the cookie is renewed on every request)
# and after 12 hours whatever happens (portal.middleware.SessionLimitsMiddleware).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 15 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_MAX_AGE_SECONDS = 12 * 60 * 60
# How many reverse proxies (TLS terminator, load balancer) stand in front of gunicorn: rate limits and
# lockouts then count the client address they saw, from the right of X-Forwarded-For.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)
# Orders one account may create per minute (page and API together); past it, 429 (orders/services.py).
ORDER_CREATE_PER_MINUTE = env_int("ORDER_CREATE_PER_MINUTE", 60, minimum=1)
# Refills (orders/rules/refills.py, docs/rules.md): a prescription expires this long after signing; a refill is too soon
# before this percentage of the prescriber's interval, or this many days after the previous fill shipped when none was set.
REFILL_PRESCRIPTION_EXPIRY_DAYS = env_int("REFILL_PRESCRIPTION_EXPIRY_DAYS", 365, minimum=1, maximum=3650)
REFILL_TOO_SOON_PERCENT = env_int("REFILL_TOO_SOON_PERCENT", 70, minimum=0, maximum=100)
REFILL_DEFAULT_GAP_DAYS = env_int("REFILL_DEFAULT_GAP_DAYS", 21, minimum=0, maximum=365)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Email ----------------------------------------------------------------------------------
# Emails carry patient status links and password-reset links: they never go to the log. Development
# writes each to a file in var/mail/ (open it to follow a link); production sends by SMTP and refuses
# a backend that would print, keep in memory or drop them.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION
                        else "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
if PRODUCTION and EMAIL_BACKEND.rsplit(".", 2)[-2] in {"console", "locmem", "filebased", "dummy"}:
    raise ConfigError(f"EMAIL_BACKEND={EMAIL_BACKEND!r} in production: emails hold patient links and reset links, "
                      "so they must be sent (use django.core.mail.backends.smtp.EmailBackend and the EMAIL_* settings)")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Northwind Compounding <no-reply@portal.local>")

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "America/New_York")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))  # private: served only through authorised views
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only: a route that takes uploads names its parsers itself (formulary lots).
    "DEFAULT_PARSER_CLASSES": ["portal.parsers.LimitedJSONParser"],
    "COERCE_DECIMAL_TO_STRING": False,
    "DEFAULT_PAGINATION_CLASS": "portal.pagination.Pagination",
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Compounded topicals prescriber portal API",
    "DESCRIPTION": "Orders, formulary and fulfilment status for telehealth prescribers and platforms.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"USStateEnum": "portal.states.USState", "MfrStatusEnum": "formulary.models_mfr.MfrStatus"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "portal.api_schema.document_errors"],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
API_MAX_BODY_BYTES = 256 * 1024  # an order of 20 preparations of 50 ingredients is about 60 KB
# Deeper JSON is refused with 400 before any view (portal.middleware.JsonBodyGuardMiddleware); an order nests 4 levels.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 32, minimum=8, maximum=200)

# --- Security -------------------------------------------------------------------------------
# Content security policy (django-csp): our pages load scripts and styles from our own origin only,
# with no inline code; nothing may frame them. The Swagger UI page alone is relaxed (portal/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"class": "portal.logfilters.NoValuesFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_tokens": {"()": "portal.logfilters.RedactPatientTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own default console handler would print request paths unredacted: route "django" through ours.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        **{name: {"level": "WARNING"} for name in ("weasyprint", "weasyprint.progress", "fontTools", "PIL")},
    },
}

# --- The pharmacy ---------------------------------------------------------------------------
PHARMACY_NAME = env_str("PHARMACY_NAME", "Northwind Compounding Pharmacy")
# The delivery promise (fulfillment/promise.py): orders signed after the daily cut-off (local time) or on a
# weekend or holiday count from the next business day; a clean order ships PHARMACY_LEAD_DAYS business
# days later (rush: PHARMACY_RUSH_LEAD_DAYS), one more for each full day of work queued ahead of it, at
# the measured pace but never assumed slower than PHARMACY_MIN_DAILY_CAPACITY preparations a day.
PHARMACY_CUTOFF = env_time("PHARMACY_CUTOFF", "14:00")
# Days the pharmacy and its carriers do not work, YYYY-MM-DD comma-separated. Unset: the eleven US federal holidays,
# each year, on their observed day (fulfillment.business_days.carrier_holidays): USPS keeps them all; UPS and FedEx
# work some (MLK, Presidents', Juneteenth, Columbus, Veterans Day), so with them the default promise may be a day
# cautious, never a day early. Set: exactly these days (set and empty: none).
PHARMACY_HOLIDAYS = env_dates("PHARMACY_HOLIDAYS")
PHARMACY_LEAD_DAYS = env_int("PHARMACY_LEAD_DAYS", 2, minimum=0, maximum=30)
PHARMACY_RUSH_LEAD_DAYS = env_int("PHARMACY_RUSH_LEAD_DAYS", 1, minimum=0, maximum=30)
PHARMACY_MIN_DAILY_CAPACITY = env_int("PHARMACY_MIN_DAILY_CAPACITY", 10, minimum=1)
PHARMACY_CARRIER = env_str("PHARMACY_CARRIER", "simulated")
PHARMACY_DEFAULT_SERVICE = env_str("PHARMACY_DEFAULT_SERVICE", "Ground")
# The simulated carrier moves a parcel one step (in transit, out for delivery, delivered) per this many seconds.
SIMULATED_CARRIER_STEP_SECONDS = env_int("SIMULATED_CARRIER_STEP_SECONDS", 3600, minimum=1)
# Where links in emails point (the patient's status link, the prescriber's order page).
SITE_URL = env_str("SITE_URL", "https://portal.example.com" if PRODUCTION else "http://127.0.0.1:8000")
# Webhooks: https only and no private addresses in production; http and loopback allowed for development receivers.
WEBHOOK_ALLOW_INSECURE = env_bool("WEBHOOK_ALLOW_INSECURE", not PRODUCTION)
# Short timeouts: a slow receiver holds one slot of the webhook pool for at most connect + read seconds.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_int("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 3, minimum=1, maximum=30)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1, maximum=60)  # read: the receiver's answer
# One clinic cannot stall the others: endpoints per clinic, deliveries in flight per clinic (one per endpoint
# always), and the circuit breaker (failures in a row before an endpoint is paused; the first pause, doubling).
WEBHOOK_ENDPOINTS_PER_CLINIC = env_int("WEBHOOK_ENDPOINTS_PER_CLINIC", 10, minimum=1, maximum=100)
WEBHOOK_CLINIC_CONCURRENCY = env_int("WEBHOOK_CLINIC_CONCURRENCY", 2, minimum=1, maximum=20)
WEBHOOK_BREAKER_FAILURES = env_int("WEBHOOK_BREAKER_FAILURES", 5, minimum=1, maximum=100)
WEBHOOK_BREAKER_SECONDS = env_int("WEBHOOK_BREAKER_SECONDS", 60, minimum=1, maximum=3600)
# Seconds before each retry: about three days in all, then the delivery is dead-lettered (Standard Webhooks' schedule, extended).
WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400]
CARRIER_WEBHOOK_SECRET = env_str("CARRIER_WEBHOOK_SECRET", "" if PRODUCTION else "dev-carrier-webhook-secret")
