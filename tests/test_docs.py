"""The docs stay true to the code: settings, migrations, and the commands the README promises."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def settings_env_vars() -> set[str]:
    source = (ROOT / "tweetsite" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', source))


def test_settings_read_the_documented_variables():
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "X_BEARER_TOKEN", "X_API_BASE_URL"} <= (
        settings_env_vars()
    )


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_setting_is_documented(document):
    text = (ROOT / document).read_text()
    missing = {name for name in settings_env_vars() if name not in text}
    assert not missing, f"{document} does not mention {sorted(missing)}"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text()[:1500]
    assert "make run" in head and "make test" in head


def test_readme_screenshots_exist():
    for name in re.findall(r"\]\((docs/[^)]+\.png)\)", (ROOT / "README.md").read_text()):
        assert (ROOT / name).is_file(), name


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
