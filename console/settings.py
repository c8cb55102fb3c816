"""Django settings for the Vantage console.

All configuration comes from environment variables with embedded defaults (see
docs/configuration.md). With nothing set, the console runs on SQLite, an in-memory channel
layer, a file-system Celery broker and a file asset store, all under ``var/``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.get_str("VANTAGE_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.get_secret_key(VAR_DIR)
DEBUG = env.get_bool("DEBUG", False)

CONSOLE_URL = env.get_url("CONSOLE_URL", "http://127.0.0.1:8000", schemes=("http", "https"))
_console_host = urlsplit(CONSOLE_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if _console_host not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_console_host)
CSRF_TRUSTED_ORIGINS = [f"{urlsplit(CONSOLE_URL).scheme}://{urlsplit(CONSOLE_URL).netloc}"]

# Where processes that are not the ASGI server (Celery, the shell) deliver live updates when the
# channel layer is in-memory; see core/live.py.
LIVE_RELAY_URL = env.get_url("LIVE_RELAY_URL", CONSOLE_URL, schemes=("http", "https"))

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "formtools",
    "template_partials",
    "auditlog",
    "axes",
    # Bottom to top, as the layers go (docs/ARCHITECTURE.md); core has the label "console".
    "core",
    "devices",
    "datasources",
    "applications",
    "panorama_api",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.sessions.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.audit.AuditMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
ASGI_APPLICATION = "console.asgi.application"
WSGI_APPLICATION = "console.wsgi.application"

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
                "console.context_processors.installation",
            ],
            # {% partialdef %} / {% partial %} everywhere, as Django 6 has them built in.
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
_default_db = f"sqlite:///{VAR_DIR / 'vantage.sqlite3'}"
_database_url = env.get_str("DATABASE_URL", _default_db)
if urlsplit(_database_url).scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
    raise ImproperlyConfigured(
        f"DATABASE_URL: scheme {urlsplit(_database_url).scheme!r} is not supported; "
        "use sqlite:////absolute/path.sqlite3 or postgres://user:password@host:port/name."
    )
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=0)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: cannot be parsed ({exc}).") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.get_bool(
    "DATABASE_POOL", False
):
    # A pool per long-running process (the run command turns it on for the server and the
    # worker): the device link touches the database for every heartbeat, and a new PostgreSQL
    # connection each time would cost more than the work itself. Short commands go without:
    # a pool waits for a database that is not there instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.get_int("DATABASE_POOL_SIZE", 10, minimum=1),
        "timeout": 20,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL and a busy timeout let the web server and the worker write without "database is
        # locked" errors.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory: the test suite's server and worker processes share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-vantage.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker --------------------------------------------------
REDIS_URL = env.get_str("REDIS_URL", "")
if REDIS_URL and urlsplit(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured(
        f"REDIS_URL: {REDIS_URL!r} is not a Redis URL; expected redis://host:port/db."
    )
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.get_str("CHANNEL_LAYER_PREFIX", "vantage"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Appliances -------------------------------------------------------------------------------
DEVICE_QUOTA = env.get_int("DEVICE_QUOTA", 50, minimum=1)
# The agent heartbeats every DEVICE_HEARTBEAT_S; a device whose lease (DEVICE_LEASE_S since the
# last heartbeat) runs out without one is OFFLINE.
DEVICE_HEARTBEAT_S = env.get_int("DEVICE_HEARTBEAT_S", 10, minimum=1)
DEVICE_LEASE_S = env.get_int("DEVICE_LEASE_S", 30, minimum=2)
if DEVICE_LEASE_S <= DEVICE_HEARTBEAT_S:
    raise ImproperlyConfigured(
        f"DEVICE_LEASE_S ({DEVICE_LEASE_S}) must be longer than DEVICE_HEARTBEAT_S "
        f"({DEVICE_HEARTBEAT_S}), or every device would flap OFFLINE between heartbeats."
    )
# A device whose data disk has less free space than this (MiB, from its heartbeats) is flagged
# on its page: a full disk stops downloads and the logs of its applications.
DEVICE_DISK_WARN_MIB = env.get_int("DEVICE_DISK_WARN_MIB", 1024, minimum=0)
# A private CA's certificate (PEM) that appliances need to trust an https CONSOLE_URL; it goes
# into every configuration archive. Empty: the appliance trusts its system's CAs.
CONSOLE_CA_FILE = env.get_str("CONSOLE_CA_FILE", "")
if CONSOLE_CA_FILE and not Path(CONSOLE_CA_FILE).is_file():
    raise ImproperlyConfigured(f"CONSOLE_CA_FILE: {CONSOLE_CA_FILE} is not a readable file.")
# The USB folder of the local appliance `./vantage up` runs next to the console (set by the
# launcher): the setup wizard tells where to save an archive for it.
LOCAL_APPLIANCE_USB_DIR = env.get_str("VANTAGE_LOCAL_APPLIANCE_USB_DIR", "")
# RELEASE_SIGNING_KEY and LOG_IMAGE_KEY (PEM private keys) are read by devices/keys.py.

# The cache (API throttles, coalesced dashboard recounts): in Redis when there is
# one (shared by every process), else in each process's memory. Nothing in it must survive a
# restart: the nonces of signed device requests are kept in the database (devices/agent_auth.py).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.get_str("CHANNEL_LAYER_PREFIX", "vantage"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "broker"
# Acks late: a task stays in the broker until a worker has finished it. On Redis a task whose
# worker died without a word (kill -9, the machine lost) goes back to the queue once it has been
# unacknowledged for TASK_VISIBILITY_TIMEOUT_S (kombu's default is an hour). It must be longer
# than the longest task runs, or a running task is handed to a second worker as well; every
# task here claims its work with a conditional update, so that second run does nothing.
TASK_VISIBILITY_TIMEOUT_S = env.get_int("TASK_VISIBILITY_TIMEOUT_S", 300, minimum=1)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": TASK_VISIBILITY_TIMEOUT_S,
        # How often a worker looks for such tasks (kombu: every 100 s).
        "unacked_restore_interval": max(1, min(10, TASK_VISIBILITY_TIMEOUT_S // 3)),
        "unacked_restore_throttle": 1,
        # A Redis that stops answering (SIGSTOP, a dead network path) fails a publish within
        # seconds instead of holding the request for ever.
        "socket_timeout": 3,
        "socket_connect_timeout": 3,
    }
else:
    # kombu's filesystem transport: no server to run, yet tasks still go to a real worker
    # process. One folder is both inbox and outbox so every process sees the same queue.
    (CELERY_BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (CELERY_BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport that notices a worker's stop sooner (console/celery.py).
    CELERY_BROKER_URL = "vantagefs://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # kombu otherwise keeps its fan-out exchange files in ./control of the working folder.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    # The filesystem transport has no fan-out exchange, which remote control needs.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env.get_str("CELERY_QUEUE", "vantage")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# A pool process that dies mid-task (killed, out of memory) puts its task back in the queue.
# No task loops on this even if it is what kills its process: each claims its work first
# (deploy, compile, stream check), so a second delivery finds it claimed and ends.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A publish to a broker that is down fails within about a second (a deploy then answers 503
# with nothing saved), where Celery's default retries for longer.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.5,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A deployment still DEPLOYMENT_PENDING (no worker has taken its task) DEPLOYMENT_REDRIVE_AFTER_S
# after it was queued is queued again; the sweep runs every DEPLOYMENT_SWEEP_S.
DEPLOYMENT_REDRIVE_AFTER_S = env.get_int("DEPLOYMENT_REDRIVE_AFTER_S", 60, minimum=1)
DEPLOYMENT_SWEEP_S = env.get_int("DEPLOYMENT_SWEEP_S", 15, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "console.tasks.record_worker_heartbeat", "schedule": 15.0},
    "dashboard-refresh": {"task": "console.tasks.refresh_dashboard", "schedule": 60.0},
    # Often enough that an expired lease shows within a few seconds of running out.
    "deployment-timeouts": {"task": "applications.tasks.expire_deployments", "schedule": 10.0},
    # Deployments whose task the broker or a worker lost are sent again (applications/redrive.py).
    "deployment-redrive": {
        "task": "applications.tasks.redrive_deployments",
        "schedule": float(DEPLOYMENT_SWEEP_S),
    },
    "device-leases": {
        "task": "devices.tasks.expire_device_leases",
        "schedule": float(max(1, min(5, DEVICE_LEASE_S // 3))),
    },
}

# --- Deployments (Panorama's quotas: 10 applications per device, 8 camera streams per
# application, 200 deployments per device per day) ----------------------------------------------
APPLICATIONS_PER_DEVICE = env.get_int("APPLICATIONS_PER_DEVICE", 10, minimum=1)
STREAMS_PER_APPLICATION = env.get_int("STREAMS_PER_APPLICATION", 8, minimum=1)
# What an application's code may use on its appliance unless its deployment says otherwise:
# memory in MiB (0: no limit) and CPUs (0: no limit).
APP_MEMORY_LIMIT_MIB = env.get_int("APP_MEMORY_LIMIT_MIB", 2048, minimum=0)
APP_CPU_LIMIT = env.get_int("APP_CPU_LIMIT", 0, minimum=0)
DEPLOYMENTS_PER_DEVICE_PER_DAY = env.get_int("DEPLOYMENTS_PER_DEVICE_PER_DAY", 200, minimum=1)
# How long an online device may take to install and start an application before the
# deployment fails (time the device spends offline does not count).
DEPLOYMENT_TIMEOUT_S = env.get_int("DEPLOYMENT_TIMEOUT_S", 600, minimum=5)

# --- The Panorama API (panorama_api/): the region its ARNs and SigV4 signatures name, and its
# rates (Panorama's defaults: 5 requests a second in all, 1 a second for calls that change
# something), per account; 0 turns a limit off.
PANORAMA_API_REGION = env.get_str("PANORAMA_API_REGION", "us-east-1")
PANORAMA_API_REQUESTS_PER_S = env.get_int("PANORAMA_API_REQUESTS_PER_S", 5, minimum=0)
PANORAMA_API_MUTATIONS_PER_S = env.get_int("PANORAMA_API_MUTATIONS_PER_S", 1, minimum=0)

# Quotas of node packages (Panorama's: 50 packages, 20 versions each).
PACKAGE_QUOTA = env.get_int("PACKAGE_QUOTA", 50, minimum=1)
VERSION_QUOTA = env.get_int("VERSION_QUOTA", 20, minimum=1)

# Folders that file:// test sources may point into; nothing else on the host can be read.
# samples/ holds the sample applications' demo videos (manage.py load_sample).
TEST_MEDIA_DIRS = env.get_list(
    "TEST_MEDIA_DIRS", [str(VAR_DIR / "media"), str(BASE_DIR / "samples")]
)

# Seconds a stream check waits to connect, and then for data, before it calls the camera down.
STREAM_CHECK_TIMEOUT_S = env.get_int("STREAM_CHECK_TIMEOUT_S", 8, minimum=1)
# How long a check sent to an appliance may go unanswered (0: twice the check's own timeout
# plus 15 s for the link).
STREAM_CHECK_APPLIANCE_WAIT_S = env.get_int("STREAM_CHECK_APPLIANCE_WAIT_S", 0, minimum=0)

# CREDENTIALS_KEY (the key for stored secrets) is read by core/crypto.py, checked at start.

# --- Asset store ------------------------------------------------------------------------------
ASSET_STORE = env.get_asset_store(VAR_DIR)
if ASSET_STORE.kind == "s3":
    _asset_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ASSET_STORE.bucket,
            "location": ASSET_STORE.location,
            "endpoint_url": env.get_str("ASSET_STORE_ENDPOINT_URL", "") or None,
            "region_name": env.get_str("ASSET_STORE_REGION", "") or None,
            "access_key": env.get_str("ASSET_STORE_ACCESS_KEY_ID", "") or None,
            "secret_key": env.get_str("ASSET_STORE_SECRET_ACCESS_KEY", "") or None,
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    _asset_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": ASSET_STORE.location},
    }
# Uploads of package assets (PUT /api/assets/, what vantage-cli sends): at most ASSET_MAX_MIB
# each, and ASSET_QUOTA_GIB for the whole store; 0 turns either off (applications/assets.py).
ASSET_MAX_MIB = env.get_int("ASSET_MAX_MIB", 2048, minimum=0)
ASSET_QUOTA_GIB = env.get_int("ASSET_QUOTA_GIB", 100, minimum=0)
STORAGES = {
    "default": _asset_storage,
    "assets": _asset_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the source folders too, so a checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True

# --- Accounts ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "console.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (django-axes, console/signin.py): LOGIN_FAILURE_LIMIT wrong passwords for
# one user name from one address lock that pair out for LOGIN_LOCKOUT_MINUTES. By user name and
# address together, so nobody can lock a colleague out from elsewhere; a guesser who spreads
# over many names still gets LOGIN_FAILURE_LIMIT tries per name.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.get_bool("LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env.get_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.get_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "console.signin.locked_out"
AXES_CLIENT_IP_CALLABLE = "console.signin.client_address"
AXES_VERBOSE = False

# --- Security ---------------------------------------------------------------------------------
# Behind TLS (CONSOLE_URL https://...) cookies are secure and HSTS is on.
_https = urlsplit(CONSOLE_URL).scheme == "https"
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = _https and env.get_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", 31536000 if _https else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
if env.get_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The launcher's readiness probe and the live relay talk plain HTTP to the local server.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^_internal/"]
SESSION_COOKIE_HTTPONLY = True
# A session ends after SESSION_IDLE_MINUTES without a request (each request moves the expiry
# forward, see core/sessions.py) and SESSION_MAX_AGE_HOURS after sign-in in any case.
SESSION_COOKIE_AGE = 60 * env.get_int("SESSION_IDLE_MINUTES", 12 * 60, minimum=1)
SESSION_MAX_AGE_S = 3600 * env.get_int("SESSION_MAX_AGE_HOURS", 14 * 24, minimum=1)
X_FRAME_OPTIONS = "DENY"

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.get_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONBodyParser",
        "core.parsers.FormBodyParser",
        "core.parsers.MultiPartBodyParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.api.authentication.APITokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["console.api.permissions.RolePermission"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.ClampedLimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vantage API",
    "DESCRIPTION": "Manage appliances, camera streams, packages and applications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["console.api.permissions.RolePermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per status vocabulary, as in core/status.py.
    "ENUM_NAME_OVERRIDES": {
        "ApplicationInstanceStatus": "core.status.ApplicationInstanceStatus",
        "ApplicationInstanceHealthStatus": "core.status.ApplicationInstanceHealthStatus",
    },
}

# --- Audit log --------------------------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env.get_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # axes logs every sign-in at INFO; lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}
