"""Settings for Moments, read from the environment (django-environ).

Embedded defaults make a fresh checkout runnable: with `DATABASE_URL` unset the database is
SQLite under `var/`, with `CELERY_BROKER_URL` unset tasks run eagerly in-process, with
`REDIS_URL` unset the cache is per-process memory. `DEBUG` is off unless set; with it off,
`SECRET_KEY` and `ALLOWED_HOSTS` must come from the environment, and so must `REDIS_URL` and
`CELERY_BROKER_URL` unless ALLOW_PROCESS_LOCAL_CACHE / CELERY_TASKS_IN_PROCESS say one process is meant.
"""

from email.utils import getaddresses
from pathlib import Path

import environ
from celery.schedules import crontab
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from config import queues
from config.logs import log_format

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="insecure-development-key-never-used-in-production")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
else:
    missing = [name for name in ("SECRET_KEY", "ALLOWED_HOSTS") if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            f"DEBUG is off, so {' and '.join(missing)} must be set in the environment "
            "(or set DEBUG=true for local development)."
        )
    SECRET_KEY = env("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# Rotating SECRET_KEY without logging everyone out: the new key in SECRET_KEY, the old one(s) here
# (comma-separated) until sessions and links signed under them have lapsed (platform/DEPLOY.md).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Claim URLs are HMACs under this secret: keep it stable, or links already sent stop matching
# what the API shows again for them. Defaults to SECRET_KEY.
CLAIM_TOKEN_SECRET = env("CLAIM_TOKEN_SECRET", default=SECRET_KEY)
# The public address of this deployment, for links in emails and claim URLs.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "config.apps.MomentsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_countries",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "tenants",
    "rewards",
    "storefront",
]

MIDDLEWARE = [
    "config.metrics.RequestMetrics",  # first: every answer counted and timed, redirects and refusals too
    "django.middleware.security.SecurityMiddleware",
    "config.db_router.ReplicaReadsMiddleware",
    "config.middleware.RejectNulBytes",
    "config.middleware.NoStoreWithCredentials",
    "config.scopes.FreshScopeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "csp.context_processors.nonce",
                "storefront.context_processors.test_mode_claim",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A streaming replica of the primary: reports and the console's lists read from it, everything else
# (the API, every write, every read inside a transaction) stays on the primary (config/db_router.py).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"].get("CONN_MAX_AGE", 0))
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # a test run makes no database for it
    DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
# What a replica may serve, by app label or model label: never who someone is or what they may do
# (users, sessions, memberships, API keys), which must not lag behind a change.
DATABASE_REPLICA_READS = ["rewards", "tenants.AuditEntry"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REDIS_URL = env("REDIS_URL", default="")
if not DEBUG and not REDIS_URL and not env.bool("ALLOW_PROCESS_LOCAL_CACHE", default=False):
    # Cached API keys, throttles and campaign versions must be one for every process: with a
    # per-process cache a revoked key or a paused campaign would live on in the other workers.
    raise ImproperlyConfigured(
        "DEBUG is off, so REDIS_URL must be set (or ALLOW_PROCESS_LOCAL_CACHE=true when exactly one "
        "process serves the site)."
    )
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "config.cache.ReusingRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- End users' accounts (django-allauth) -----------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # the console's sign-in
    "allauth.account.auth_backends.AuthenticationBackend",  # the storefront's
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "storefront:continue"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"  # nobody signs in, so nobody redeems, unverified
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False  # a link scanner's GET must not confirm
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Moments: "
ACCOUNT_FORMS = {"login": "storefront.forms.SignInForm"}  # one "forgot password" link, sentence-case labels
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
ACCOUNT_ADAPTER = "tenants.accounts.AccountAdapter"  # staff land on the console after signing in
# allauth's rate limits, counted in the shared cache. A sign-in failure counts against the client's
# address and against the account: five wrong passwords (or second-factor codes) lock the account
# for five minutes, whatever address the next try comes from, the right password included. Each
# answer over a limit is a 429 page (config/errors.py, storefront's SignInView). The rest keep
# allauth's defaults (sign-ups, login codes, confirmation emails).
SIGN_IN_LOCKOUT_SECONDS = 300
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": f"10/m/ip,5/{SIGN_IN_LOCKOUT_SECONDS}s/key",
    # One reset flow for staff and customers: allauth's.
    "reset_password": "20/m/ip,3/15m/key",  # nosec B105  # a rate limit, not a password
    "reset_password_from_key": "20/m/ip",  # nosec B105  # a rate limit, not a password
    "reauthenticate": "10/m/user",
}
# The client's address behind a load balancer (allauth's rate limits, the failure log): the number
# of proxies that append to X-Forwarded-For in front of the site; 0 reads REMOTE_ADDR.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Staff's second factor (allauth's MFA) ----------------------------------------------------
# The console's sign-in is allauth's (the admin's login form redirects there), so a staff member
# with an authenticator is asked for a code from it after the password. With STAFF_MFA_REQUIRED (on
# unless DEBUG), staff who have none are sent to set one up before any console page opens.
STAFF_MFA_REQUIRED = env.bool("STAFF_MFA_REQUIRED", default=not DEBUG)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Moments"
MFA_RECOVERY_CODE_COUNT = 10

# A claim link's token cannot be guessed (256 bits), and guessing is still bounded: a client whose
# claim links missed this many times in the window gets a 429 on every claim page until it ends.
CLAIM_MISSES_PER_CLIENT = env.int("CLAIM_MISSES_PER_CLIENT", default=20)
CLAIM_MISSES_WINDOW_SECONDS = env.int("CLAIM_MISSES_WINDOW_SECONDS", default=600)

# --- Time, language ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어"), ("th", "ไทย")]
# locale/: the project's own strings (makemessages writes there). storefront/translations/: Thai,
# by hand, for strings of Django and django-countries that the storefront shows and whose Thai
# catalogues leave them in English (country names, password rules, field errors, the CSRF page);
# it comes second, so the project's own catalogue still wins. compilemessages compiles both.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "storefront" / "translations"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns on every start without it
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# A request body (an API call, a form) above 1 MB is refused before it is read: 413 in the API.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Security ---------------------------------------------------------------------------------
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Production is HTTPS only: redirected, and remembered by browsers for a year (HSTS), subdomains
# included and preload asked for (each an environment variable, to opt out of on a domain whose
# subdomains are not all HTTPS). `manage.py check --deploy --fail-level WARNING` passes with no
# more set than production needs anyway (tests/test_security_settings.py, platform/DEPLOY.md).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Prometheus scrapes a web process directly, over plain http inside the network (a redirect to
# https would lead it to a port with no TLS): /metrics is served as asked, and refuses any request
# without its bearer token (config/metrics.py).
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Content-Security-Policy on every response (django-csp): scripts only from this site or with the
# response's nonce (the one inline script, on the page that shows a new API key, carries it);
# styles may be inline (the brand's colour, the admin's and pygal's SVG charts' style attributes:
# a style cannot run code); no plugin, no framing, forms post here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp_constants.NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Email ------------------------------------------------------------------------------------
# EMAIL_URL such as smtp+tls://user:password@smtp.example.com:587; the console by default.
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Moments <no-reply@moments.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The operator's alerts (a code pool running low, a failed external fulfilment): "Name <email>, …".
ADMINS = [(name, address) for name, address in getaddresses(env.list("OPERATOR_EMAILS", default=[])) if address]
CODE_POOL_LOW_WATER = env.int("CODE_POOL_LOW_WATER", default=10)
FULFILMENT_SERVICE_TOKEN = env("FULFILMENT_SERVICE_TOKEN", default="")
# An outside fulfilment service's call holds its order this long (rewards/orders/fulfilment.py): longer
# than a task may run (CELERY_TASK_TIME_LIMIT), so a live call never loses it.
FULFILMENT_LEASE_SECONDS = env.int("FULFILMENT_LEASE_SECONDS", default=120)
# How long a money path waits for a row lock (rewards/ledger/locks.py) before it gives up and fails.
MONEY_LOCK_TIMEOUT_MS = env.int("MONEY_LOCK_TIMEOUT_MS", default=5000)

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.authentication.HasActiveBrand"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.StrictJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.ApiKeyRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "config.api.ResultsPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Moments API",
    "DESCRIPTION": "Report your users' actions and reward them with real items.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.errors.declare_error_responses",
    ],
}
# Requests per API key per minute, by bucket (a batch carries up to 500 events; a webhook test
# makes an outside call of up to 15 s in the web process).
API_RATE_LIMITS = {
    "default": env.int("API_RATE_LIMIT", default=6000),
    "batch": env.int("API_BATCH_RATE_LIMIT", default=120),
    "webhook_test": env.int("API_WEBHOOK_TEST_RATE_LIMIT", default=10),
}
# How long an authenticated API key stays cached; revoking a key or suspending a brand clears
# its entry at once, so this only bounds how stale a missed invalidation can be.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=300)
# Webhooks go only to https endpoints on public addresses (tenants/webhook_endpoint.py). On for
# tests and local demos (DEBUG): also http and https to loopback (127.0.0.0/8, ::1, localhost),
# never to any other private range.
WEBHOOK_ALLOW_LOOPBACK_HTTP = env.bool("WEBHOOK_ALLOW_LOOPBACK_HTTP", default=DEBUG)

# --- Metrics ----------------------------------------------------------------------------------
# `GET /metrics` (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, the page
# does not exist (404). Several processes add up their samples through PROMETHEUS_MULTIPROC_DIR
# (config/metrics.py, platform/gunicorn.conf.py, README "Metrics").
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# A worker host without a web process serves the same /metrics on this port (0: not served).
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)

# --- Celery -----------------------------------------------------------------------------------
if not DEBUG and not env("CELERY_BROKER_URL", default="") and not env.bool("CELERY_TASKS_IN_PROCESS", default=False):
    # Without a broker every task (fulfilment, webhooks, emails) runs inside the web request that
    # enqueues it, and the beat's sweeps and retries never run at all.
    raise ImproperlyConfigured(
        "DEBUG is off, so CELERY_BROKER_URL must be set (or CELERY_TASKS_IN_PROCESS=true to run tasks "
        "inside the web process, with no worker or beat: a one-process trial)."
    )
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or "memory://"
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One queue per kind of work, each a quorum queue named after CELERY_QUEUE (config/queues.py): a
# deployment's workers may read them all (the Procfile's `worker`) or each kind apart.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="moments")
CELERY_TASK_QUEUES = queues.declared_queues(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = ("config.queues.route_task",)
TASK_QUEUE_KINDS = {
    "rewards.tasks.fulfil_order": "fulfilment",
    "rewards.tasks.deliver_webhook": "webhooks",
    "rewards.tasks.send_cap_alerts": "reports",
    "rewards.tasks.send_due_webhooks": "beat",
    "rewards.tasks.sweep_orders": "beat",
    "rewards.tasks.expire_moments": "beat",
    "rewards.tasks.end_campaigns": "beat",
    "rewards.tasks.month_roll": "beat",
}
# A queue named nowhere above (a test's own family, tests/workers.py) is declared like the others.
CELERY_TASK_DEFAULT_QUEUE_TYPE = "quorum"
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = queues.EXCHANGE_TYPE
CELERY_TASK_CREATE_MISSING_QUEUE_TYPE = "quorum"
CELERY_TASK_CREATE_MISSING_QUEUE_EXCHANGE_TYPE = queues.EXCHANGE_TYPE
# Beat (exactly one process, platform/Procfile). Every task is idempotent: a run that comes late,
# early or twice changes nothing it should not.
CELERY_BEAT_SCHEDULE = {
    "send-due-webhooks": {"task": "rewards.tasks.send_due_webhooks", "schedule": 5.0},
    "sweep-orders": {"task": "rewards.tasks.sweep_orders", "schedule": 120.0},
    "expire-moments": {"task": "rewards.tasks.expire_moments", "schedule": 600.0},
    "end-campaigns": {"task": "rewards.tasks.end_campaigns", "schedule": 300.0},
    "month-roll": {"task": "rewards.tasks.month_roll", "schedule": crontab(minute=5, hour=0, day_of_month=1)},
    "cap-alerts": {"task": "rewards.tasks.send_cap_alerts", "schedule": crontab(minute=15)},
}

# --- Logging ----------------------------------------------------------------------------------
# One JSON object a line (python-json-logger) unless DEBUG, where a readable line is the default:
# LOG_FORMAT=json|console. Every line carries the id of its request, or of the request that enqueued
# its task (config/logs.py); Celery's workers and beat log through this too (config/celery.py).
LOG_FORMAT = env("LOG_FORMAT", default="")
try:
    LOG_FORMAT = log_format(LOG_FORMAT, debug=DEBUG)
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from error
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logs.JsonFormatter"},
        "console": {"()": "config.logs.ConsoleFormatter"},
    },
    # Secrets in URLs (claim tokens, email and password-reset keys) are logged as ****: Django
    # prints the path of a 404 or a CSRF refusal, runserver every request line (config/log_masking.py);
    # the formatters mask their whole line again (extra fields, tracebacks).
    "filters": {
        "mask_secrets": {"()": "config.log_masking.MaskSecrets"},
        "request_context": {"()": "config.logs.RequestContext"},
        "quiet_probes": {"()": "config.logs.QuietProbes"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_context", "mask_secrets"],
        }
    },
    # LOG_LEVEL is shared with gunicorn, which takes "info" too: logging wants "INFO".
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO").upper()},
    # In-process tasks still touch kombu's memory:// transport, which warns that it has no host.
    "loggers": {
        "kombu.connection": {"level": "ERROR" if CELERY_TASK_ALWAYS_EAGER else "WARNING"},
        # Masked before any handler sees it, the operators' error emails (mail_admins) included.
        "django.request": {"filters": ["mask_secrets"]},
        # runserver's request lines go to the masked console, not to Django's own handler; a probe's
        # good answer is not one of them.
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["quiet_probes", "mask_secrets"],
        },
    },
}

# --- Operability: probes and request ids (issue 17) --------------------------------------------
# /healthz and /readyz (config/health.py) are answered by the first middleware, before any other:
# from any Host (a load balancer probes by IP, which ALLOWED_HOSTS would refuse), over plain HTTP (no
# SSL redirect), with no session, CSRF, locale or rate limit. /readyz checks the database, the
# migrations, the broker and the cache concurrently and answers within HEALTH_CHECK_TIMEOUT seconds
# even when one hangs. Then every request gets its id (X-Request-ID, config/middleware.py).
MIDDLEWARE = ["config.health.ProbeMiddleware", "config.middleware.RequestIdMiddleware", *MIDDLEWARE]
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
