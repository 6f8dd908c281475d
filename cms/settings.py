"""Kansha settings, read from the environment.

With nothing set, Kansha runs embedded: a SQLite file and Celery tasks executed in-process
(eager, exceptions propagate). Set DATABASE_URL (PostgreSQL) and REDIS_URL (broker and cache)
for production-style processes with real workers. Bad values stop start-up with a clear error.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from cms.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("KANSHA_DATA_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
# The Celery broker: REDIS_URL unless BROKER_URL names another (amqp:// for RabbitMQ; see
# docs/reliability.md for which one holds through an outage).
BROKER_URL = env_str("BROKER_URL")
EMBEDDED = not DATABASE_URL and not REDIS_URL

DEBUG = env_bool("DJANGO_DEBUG", default=not DATABASE_URL)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "kansha-insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "cms",
    "advocates",
    "rewards",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.settings",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "django_celery_beat",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cms.security.LoginThrottleMiddleware",  # 429 after repeated failed admin sign-ins
    "cms.metrics.RequestMetricsMiddleware",  # entry points' counts and latencies, /metrics
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "cms.urls"
WSGI_APPLICATION = "cms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "cms" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.template.context_processors.i18n",
                "django.contrib.messages.context_processors.messages",
                "wagtail.contrib.settings.context_processors.settings",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
_env = environ.Env()
if DATABASE_URL:
    try:
        DATABASES = {"default": _env.db_url_config(DATABASE_URL)}
    except Exception as exc:  # django-environ raises several types; all mean a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    # django-environ reads "notaurl" as the dummy backend and "postgres://" as no database;
    # both would only fail at the first query. (The URL may hold a password: not echoed.)
    if DATABASES["default"].get("ENGINE", "").endswith("dummy") or not DATABASES["default"].get(
        "NAME"
    ):
        raise ImproperlyConfigured(
            "DATABASE_URL is not a valid database URL: expected e.g. "
            "postgres://user:password@host:5432/name (with a scheme and a database name).")
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "kansha.sqlite3",
            # The demo's web server, its in-process stream and its periodic-task thread write
            # side by side. WAL lets readers carry on while one writes; `timeout` is how long a
            # writer waits for the lock (seconds). A transaction that reads first and writes
            # later could not wait at all: SQLite refuses to upgrade its lock and raises
            # "database is locked" at once (issue 17), so transactions take the write lock as
            # they begin (BEGIN IMMEDIATE, Django 5.1+), where the timeout applies.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20,
                        "transaction_mode": "IMMEDIATE"},
        }
    }
DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("DB_CONN_MAX_AGE", 0, minimum=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# /metrics answers only with `Authorization: Bearer <this>`; unset, it answers 404.
KANSHA_METRICS_TOKEN = env_str("KANSHA_METRICS_TOKEN")

# --- Cache and Celery ---------------------------------------------------------------------
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured(
            f"REDIS_URL must start with redis:// or rediss://, got {REDIS_URL!r}")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "kansha"}}
    CELERY_BROKER_URL = BROKER_URL or REDIS_URL
    if not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise ImproperlyConfigured(  # the scheme only: the URL may hold a password
            "BROKER_URL must start with redis://, rediss://, amqp:// or amqps://, got "
            f"{CELERY_BROKER_URL.split(':', 1)[0]!r}:...")
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# A queue per concern, so each can be scaled (and stalled) on its own.
CELERY_TASK_QUEUE_NAMES = ["default", "ingest", "detect", "deliver", "rewards", "reports"]
CELERY_TASK_ROUTES = {
    "advocates.tasks.ingest_*": {"queue": "ingest"},
    "advocates.tasks.webhook_*": {"queue": "ingest"},
    "advocates.tasks.webhooks_*": {"queue": "ingest"},
    "advocates.tasks.account_poll": {"queue": "ingest"},
    "advocates.tasks.platforms_poll": {"queue": "ingest"},
    "advocates.tasks.mentions_*": {"queue": "detect"},
    "advocates.tasks.outreach_*": {"queue": "deliver"},
    # Training takes a core for a minute: kept off the queues that carry live work.
    "advocates.tasks.detector_*": {"queue": "reports"},
    "rewards.tasks.report_*": {"queue": "reports"},
    "rewards.tasks.*": {"queue": "rewards"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Celery's consumer with one fix: a busy worker survives a broker outage (cms/celery.py).
CELERY_WORKER_CONSUMER = "cms.celery:Consumer"
# A worker keeps reconnecting however long the broker is away (Celery's default gives up after
# 100 attempts, under an hour), and at start-up waits for a broker that is not up yet.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic tasks are declared here, in one place; django-celery-beat copies them to the DB.
CELERY_BEAT_SCHEDULE = {
    # Stranded work (a broker outage, a killed worker) is picked up within 90 s: these sweeps
    # run every 30 s for rows older than 60 s (docs/reliability.md section 2).
    # /readyz: a worker and beat seen lately (cms/health.py: HEARTBEAT_ENTRY, HEARTBEAT_EVERY).
    "kansha-heartbeat": {"task": "cms.tasks.heartbeat", "schedule": 30.0},
    "sweep-undetected-mentions": {"task": "advocates.tasks.mentions_detect_sweep",
                                  "schedule": 30.0},
    "webhooks-sweep": {"task": "advocates.tasks.webhooks_sweep", "schedule": 30.0},
    "platforms-poll": {"task": "advocates.tasks.platforms_poll", "schedule": 120.0},
    "outreach-unsnooze": {"task": "advocates.tasks.outreach_unsnooze", "schedule": 60.0},
    # SLA alerts (Slack, e-mail) when a care item or an answer is due soon or overdue.
    "care-alerts": {"task": "advocates.tasks.care_alerts_send", "schedule": 60.0},
    "outreach-deliver-sweep": {"task": "advocates.tasks.outreach_deliver_sweep",
                               "schedule": 300.0},
    # Reshare consent lapses at its expires_at: the reshares it allowed are withdrawn
    # (docs/compliance.md). Every 5 minutes, so a lapse is acted on within minutes.
    "consents-expire": {"task": "advocates.tasks.consents_expire", "schedule": 300.0},
    "purge-raw-payloads": {"task": "advocates.tasks.raw_payloads_purge",
                           "schedule": 6 * 3600.0},
    # The detector learns from the day's decisions (promoted only if better; docs/detection.md).
    "detector-retrain-nightly": {"task": "advocates.tasks.detector_retrain",
                                 "schedule": crontab(minute=30, hour=3),
                                 "kwargs": {"nightly": True}},
    # Rewards: new advocacy events → points, tiers, grants (the task re-enqueues while more).
    "rewards-events-sweep": {"task": "rewards.tasks.events_sweep", "schedule": 10.0},
    "rewards-housekeeping": {"task": "rewards.tasks.rewards_housekeeping", "schedule": 60.0},
    "rewards-stripe-events-sweep": {"task": "rewards.tasks.stripe_events_sweep",
                                    "schedule": 300.0},
    # Rewarded advocates' new posts checked for a disclosure (#ad, #PR; docs/compliance.md).
    "rewards-disclosures-check": {"task": "rewards.tasks.disclosures_check", "schedule": 600.0},
    "rewards-tiers-demote": {"task": "rewards.tasks.tiers_demote_lapsed", "schedule": 3600.0},
    "rewards-ledger-rescan": {"task": "rewards.tasks.ledger_rescan", "schedule": 86400.0},
    # Codes, grants and redemptions against Stripe, the last three UTC days (docs/finance.md).
    "rewards-stripe-reconcile": {"task": "rewards.tasks.stripe_reconcile_daily",
                                 "schedule": crontab(minute=30, hour=2)},
    # Report rollups: recount what changed (reports then have little left to do), and once a
    # day everything changed in the last day (rewards/reports/rollups.py: MARGIN).
    "reports-rollups-refresh": {"task": "rewards.tasks.report_rollups_refresh",
                                "schedule": 60.0},
    "reports-rollups-rescan": {"task": "rewards.tasks.report_rollups_rescan",
                               "schedule": 86400.0},
    # Last week's reports (XLSX) to the list in Settings → Report settings, Mondays 07:00 UTC.
    "reports-weekly-email": {"task": "rewards.tasks.report_weekly_email",
                             "schedule": crontab(minute=0, hour=7, day_of_week="mon")},
}

# Admin sign-in throttling (cms/security.py): failures per (username, IP) in the cache.
AUTHENTICATION_BACKENDS = ["cms.security.ThrottledModelBackend"]
KANSHA_LOGIN_MAX_FAILURES = env_int("KANSHA_LOGIN_MAX_FAILURES", 5, minimum=1)
KANSHA_LOGIN_WINDOW_MINUTES = env_int("KANSHA_LOGIN_WINDOW_MINUTES", 15, minimum=1)

# --- Passwords, i18n, static --------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
# Kansha's own catalogue (`make messages`; see README › Translations). Wagtail and Django
# bring theirs.
LOCALE_PATHS = [BASE_DIR / "locale"]
WAGTAILADMIN_PERMITTED_LANGUAGES = LANGUAGES
WAGTAIL_I18N_ENABLED = False
TIME_ZONE = env_str("KANSHA_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000
# The ingest API takes up to 1,000 mentions per request.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("KANSHA_MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)

# --- E-mail -------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "kansha@localhost")
# Used by django.core.mail.backends.filebased.EmailBackend (e.g. the reports' integration test).
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))

# --- Wagtail ------------------------------------------------------------------------------
WAGTAIL_SITE_NAME = env_str("KANSHA_SITE_NAME", "Kansha")
WAGTAILADMIN_BASE_URL = env_str("KANSHA_BASE_URL", "http://localhost:8000")
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["csv", "pdf", "txt", "xlsx", "zip"]
# No autosave: on a create view Wagtail 8's autosave (a background POST every 500 ms) can race
# the person's own "Save draft" and create the same reward rule or perk twice (the marketing
# browser journey saw two identical draft rules from one click). Drafts are saved explicitly.
WAGTAIL_AUTOSAVE_INTERVAL = 0
# Avatars without gravatar.com: the admin makes no request off the site.
WAGTAIL_GRAVATAR_PROVIDER_URL = None

# --- Kansha -------------------------------------------------------------------------------
KANSHA_BRAND_NAME = env_str("KANSHA_BRAND_NAME", "Kansha Coffee")
# Mentions per transaction for file imports. Each commit waits for a WAL flush; at 2,000 the
# 200k-row bench spent more time committing than writing (bench/ingest.py, docs/ingest.md).
KANSHA_INGEST_BATCH_SIZE = env_int("KANSHA_INGEST_BATCH_SIZE", 10_000, minimum=1)
KANSHA_API_MAX_BATCH = 1000
# The largest amount any door accepts, in whole units of its currency (rewards/currencies.py):
# an order, a discount, a perk's cost, a budget. 10,000,000 = ¥10M or $10M.
KANSHA_MONEY_MAX_MAJOR = env_int("KANSHA_MONEY_MAX_MAJOR", 10_000_000, minimum=1)
# Delivery retries: exponential backoff from this base (seconds) with jitter, capped.
KANSHA_DELIVERY_BACKOFF_BASE = env_int("KANSHA_DELIVERY_BACKOFF_BASE", 30, minimum=0)
KANSHA_DELIVERY_BACKOFF_MAX = env_int("KANSHA_DELIVERY_BACKOFF_MAX", 3600, minimum=1)
# Consent to reshare: the terms version when no consent page says otherwise, and how long a
# yes lasts.
KANSHA_CONSENT_TERMS_VERSION = env_str("KANSHA_CONSENT_TERMS_VERSION", "2026-11")
KANSHA_CONSENT_DAYS = env_int("KANSHA_CONSENT_DAYS", 365, minimum=1)
# Privacy (advocates/services/privacy.py): platforms' raw payloads are dropped after this many
# days (parsed columns stay); apps holding personal data plug into export/erasure here.
KANSHA_RAW_RETENTION_DAYS = env_int("KANSHA_RAW_RETENTION_DAYS", 90, minimum=0)
KANSHA_PRIVACY_PROVIDERS = ["rewards.privacy"]
STRIPE_API_KEY = env_str("STRIPE_API_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")  # tests point the real SDK at a local fake server

# --- Production hardening (active when DEBUG is off) ----------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Probes come from inside the network over plain HTTP; a redirect would read as "down".
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is a domain-wide, hard-to-undo decision for the operator (and needs a year
    # of HSTS), so it is opt-in; with it off, the check that nags about it is silenced.
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("KANSHA_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
