"""Settings for the test suite: the production settings with a throwaway key and fast hashing."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")

from tweetsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    (BASE_DIR / "tmp").mkdir(exist_ok=True)  # noqa: F405
    # A file, not memory: the tests' server and worker processes share the test database.
    # One per run (pid), so runs side by side never share a file.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "tmp" / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405

STATIC_ROOT = BASE_DIR / "tmp" / "static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# In-process tests run database_sync_to_async in pool threads; persistent connections there would
# outlive each test and block dropping the PostgreSQL test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Nor a pool, whose idle connections would do the same (the processes tests start keep theirs).
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
