"""Settings for tweetsite, read from the environment (see .env.example).

Development defaults are safe and self-contained (SQLite, in-memory channel layer). Production fails
closed: with DEBUG off, a secret key must be given.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for development).")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105
elif not DEBUG and (len(SECRET_KEY) < 32 or SECRET_KEY.startswith("change-me")):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is a placeholder or shorter than 32 characters.")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "feed",
    "streamer",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "feed.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: turns a lockout into its page
]

ROOT_URLCONF = "tweetsite.urls"
ASGI_APPLICATION = "tweetsite.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Under ASGI every request runs in a thread of its own, so persistent connections (CONN_MAX_AGE)
# piled up, one per request, until PostgreSQL refused clients ("too many clients", found by
# `make drill`). PostgreSQL uses psycopg's pool instead: threads borrow a connection and give it
# back, and the worker still never opens one per batch (that had cost ~10 ms of CPU per tweet).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=10)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": 10,  # seconds a thread waits for a free connection before its request fails
        # The pool retries a lost connection 1, 3, 7, 15, 31, 63, 127 s after it failed until this
        # many seconds pass (5 minutes by default), and meanwhile starts no other try: after a
        # 150 s outage it failed every request for 88 s more. Giving up after 10 s lets the next
        # request try at once; a refused connection is cheap to try again.
        "reconnect_timeout": 10,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded worker writes while pages read: IMMEDIATE transactions queue writers instead of
    # failing with "database is locked" (feed's migration 0002 also switches the file to WAL).
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With Redis, web processes and the worker share channels-redis's pub/sub layer: one SUBSCRIBE per
# topic per process (see feed/hub.py). Without it, everything runs in one process on the in-memory
# layer, which is what `make run` does.
# For failover, name Redis Sentinels instead (REDIS_SENTINELS=host:port,host:port): every process
# then asks them for the current master, and follows a failover by itself.
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="mymaster")


def _sentinel(entry: str) -> tuple[str, int]:
    host, _, port = entry.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ImproperlyConfigured(f"REDIS_SENTINELS: expected host:port, got {entry!r}")
    return host.strip("[]"), int(port)


# The Redis everything shares, as a channels-redis "hosts" entry; None without Redis.
# A master or Sentinel cut off by a partition (not refusing, just silent) must not hang a process
# for minutes: connects give up after this many seconds, and questions to a Sentinel too.
REDIS_CONNECT_TIMEOUT_S = 2.0
if REDIS_SENTINELS:
    REDIS_HOST = {
        "master_name": REDIS_SENTINEL_MASTER,
        "sentinels": [_sentinel(e) for e in REDIS_SENTINELS],
        "sentinel_kwargs": {
            "socket_timeout": REDIS_CONNECT_TIMEOUT_S,
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        },
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
    }
elif REDIS_URL:
    REDIS_HOST = {"address": REDIS_URL, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S}
else:
    REDIS_HOST = None
if REDIS_HOST:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_HOST]},
        }
    }
else:
    # One process; group memberships must outlive the default day, as the hub subscribes once.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"group_expiry": 10 * 365 * 86400, "capacity": 1000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
# Uploads (a wall's logo), through Django's storage API: files here by default; any storage backend
# (object storage) works, since the logo is served by a view that reads it (feed/pages.py).
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- X and the worker -------------------------------------------------------------------------
X_BEARER_TOKEN = env.str("X_BEARER_TOKEN", default="")
X_API_BASE_URL = env.str("X_API_BASE_URL", default="https://api.twitter.com")
# X pay-per-use access: 1,024 characters per rule and 1,000 rules. Other access levels differ.
X_MAX_RULE_LENGTH = env.int("X_MAX_RULE_LENGTH", default=1024)
X_MAX_RULES = env.int("X_MAX_RULES", default=1000)
# X sends a keep-alive every 20 s; this much silence means a stalled stream, so reconnect.
X_STREAM_STALL_TIMEOUT_S = env.float("X_STREAM_STALL_TIMEOUT_S", default=21.0)
# The worker re-reads X's rules this often and puts back any deleted outside it (X's developer console,
# another app on the same token). 60 s costs 15 of the 450 rule reads X allows per 15 minutes.
X_RULES_RECHECK_S = env.float("X_RULES_RECHECK_S", default=60.0)
# Cost guard (README "Cost guard"): X bills each post its stream delivers; pay-per-use was about
# $0.005 a post when this was written. Only for the admin's estimate; budgets are counted in posts.
X_COST_PER_POST_USD = env.float("X_COST_PER_POST_USD", default=0.005)
# Budget windows: the UTC calendar hour and day. Settable only so the tests wait seconds, not an hour.
X_BUDGET_HOUR_S = env.int("X_BUDGET_HOUR_S", default=3600)
X_BUDGET_DAY_S = env.int("X_BUDGET_DAY_S", default=86_400)
# feed asks X's dry run through this function, so feed never imports streamer (tweetsite wires them).
TOPIC_RULES_CHECKER = "streamer.rule_check.check_rules_with_x"
# Bluesky (issue 10): posts through Jetstream, authors through the AppView; neither needs an account.
# On by default: the source connects only while some active topic follows Bluesky, so it costs
# nothing until an admin ticks Bluesky on a topic. 0 keeps the worker from ever connecting.
BLUESKY_ENABLED = env.bool("BLUESKY_ENABLED", default=True)
# Empty: the public Jetstream (streamer/sources/bluesky.py) in production, and in development (DEBUG)
# the bundled replay, so `make run` needs no network; set it to follow a Jetstream in development.
BLUESKY_JETSTREAM_URL = env.str("BLUESKY_JETSTREAM_URL", default="")
BLUESKY_APPVIEW_URL = env.str("BLUESKY_APPVIEW_URL", default="https://public.api.bsky.app")
# `make run` runs the worker inside the web process when there is no Redis to carry its tweets.
STREAM_EMBEDDED = env.bool("STREAM_EMBEDDED", default=False)
# Posts per second each replay delivers (one per network that is replayed).
STREAM_REPLAY_RATE = env.float("STREAM_REPLAY_RATE", default=2.0)
# Posts the worker holds while the database is away: five minutes of a busy event's 50 posts/s, tens
# of MB at a few KB each. Past it new posts are shed (lost: X does not resend), so memory stays bounded.
STREAM_QUEUE_MAX_POSTS = env.int("STREAM_QUEUE_MAX_POSTS", default=15_000)

# --- Security ---------------------------------------------------------------------------------
# Production (DEBUG off) is HTTPS-only by default, behind a TLS-terminating proxy that sets
# X-Forwarded-Proto. Serving plain HTTP on purpose (a local trial) needs DJANGO_SECURE_SSL_REDIRECT=0.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Start small, as cookiecutter-django advises: raise to a year once HTTPS is known to work.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Tweets are untrusted: no inline script may run, whatever slips into a page. Avatars and media
# load only from the networks' own image hosts, named one by one (never "https:" for any host):
# IMAGE_HOSTS, plus the media hosts the worker has seen on each active Mastodon instance (an
# instance serves its images from a host of its own, e.g. files.mastodon.social), read by
# IMAGE_HOSTS_FROM. `{image_hosts}` in the policy is replaced by them. Sockets and API calls go to
# this origin only.
IMAGE_HOSTS = env.list(
    "IMAGE_HOSTS", default=["https://pbs.twimg.com", "https://cdn.bsky.app", "https://video.bsky.app"]
)
IMAGE_HOSTS_FROM = "streamer.models.mastodon_image_hosts"
CONTENT_SECURITY_POLICY = env.str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: {image_hosts}; connect-src 'self'; object-src 'none'; "
        "base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
)
# Staff logins (django-axes): after LOGIN_FAILURE_LIMIT failures an account, or an address, is refused
# for LOGIN_COOLOFF_MINUTES, even with the right password. Per account stops guessing one known name
# from many addresses; per address stops one machine trying many names. Staff who share a venue's NAT
# address with the audience can set LOGIN_LOCKOUT_BY=username; "username+ip_address" counts the pair.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [
    part.split("+") if "+" in part else part
    for part in env.list("LOGIN_LOCKOUT_BY", default=["username", "ip_address"])
]
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME <= timedelta(0):
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be above 0.")
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True  # a guesser who keeps trying stays locked out
AXES_RESET_ON_SUCCESS = True  # a moderator who gets it right starts afresh, not one typo from a lockout
# REMOTE_ADDR only, never a header a client can write: behind the TLS proxy, uvicorn's --proxy-headers
# (FORWARDED_ALLOW_IPS) already puts the client's address there, as for the WebSocket limits.
AXES_CLIENT_IP_CALLABLE = "feed.security.client_address"
AXES_LOCKOUT_CALLABLE = "feed.security.login_locked_out"  # 429, and a page saying how long to wait

# WebSocket connections one client address may hold. Venue Wi-Fi puts a whole audience behind one
# NAT address, so the default is generous; 0 turns the limit off.
WS_MAX_CONNECTIONS_PER_IP = env.int("WS_MAX_CONNECTIONS_PER_IP", default=200)
# WebSocket connection attempts per address: a burst, then a rate a second (a token bucket).
# Burst 200: a full hall (the limit above) reconnecting at once after a web process restarts.
# Rate 20/s: 200 pages retrying at the page's 30 s backoff cap make about 13 attempts a second; a
# client that loops without backoff makes hundreds. 0 turns the rate limit off.
WS_CONNECT_BURST_PER_IP = env.int("WS_CONNECT_BURST_PER_IP", default=200)
WS_CONNECT_RATE_PER_IP = env.float("WS_CONNECT_RATE_PER_IP", default=20.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"tweepy": {"level": "WARNING"}},
}
