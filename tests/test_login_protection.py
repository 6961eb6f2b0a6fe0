"""Staff logins against guessing (django-axes), through the admin's login form as a browser posts it."""

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from axes.utils import reset
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
RIGHT = "the-right-password"


@pytest.fixture
def staff(django_user_model, transactional_db):  # committed, for the web process the last test starts
    return django_user_model.objects.create_superuser("boss", password=RIGHT)


def log_in(client, username: str, password: str, address: str = "203.0.113.1"):
    form = {"username": username, "password": password, "next": "/admin/"}
    return client.post(LOGIN, form, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, times: int, username: str = "boss", address: str = "203.0.113.1"):
    return [log_in(client, username, "wrong", address).status_code for _ in range(times)]


def test_the_right_password_logs_in_through_the_form(client, staff):
    assert log_in(client, "boss", RIGHT).status_code == 302
    assert logged_in(client)


def test_after_five_wrong_passwords_the_right_one_is_refused_too(client, staff):
    assert fail(client, 5) == [200, 200, 200, 200, 429]  # the form again, then the lockout
    response = log_in(client, "boss", RIGHT)
    assert response.status_code == 429
    assert not logged_in(client)


def test_the_lockout_page_says_how_long_to_wait(client, staff):
    fail(client, 5)
    response = log_in(client, "boss", RIGHT)
    page = response.content.decode()
    assert "Too many failed logins" in page and "Wait 15 minutes" in page
    assert response.headers["Retry-After"] == "900"
    assert "Traceback" not in page


def test_an_account_guessed_at_is_locked_from_every_address(client, staff):
    for n in range(5):
        fail(client, 1, address=f"198.51.100.{n}")  # a new address each time: still one account
    assert log_in(client, "boss", RIGHT, address="192.0.2.9").status_code == 429


def test_an_address_that_guessed_is_locked_for_every_account_but_others_are_not(client, staff):
    for n in range(5):
        fail(client, 1, username=f"guess{n}", address="198.51.100.7")  # many names, one address
    assert log_in(client, "boss", RIGHT, address="198.51.100.7").status_code == 429
    assert log_in(client, "boss", RIGHT, address="192.0.2.9").status_code == 302


def test_a_forwarded_for_header_does_not_change_the_address(client, staff):
    for n in range(5):
        form = {"username": f"guess{n}", "password": "wrong"}
        client.post(LOGIN, form, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    assert log_in(client, "boss", RIGHT, address="198.51.100.7").status_code == 429


def test_the_lock_lifts_after_the_cool_off(client, staff, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    fail(client, 5)
    assert log_in(client, "boss", RIGHT).status_code == 429  # and the wait starts again
    time.sleep(1.2)
    assert log_in(client, "boss", RIGHT).status_code == 302


def test_an_administrator_can_lift_a_lock_early(client, staff):
    fail(client, 5)
    reset(username="boss")  # what `manage.py axes_reset_username boss` and the admin's Axes pages do
    assert log_in(client, "boss", RIGHT).status_code == 302


def test_a_successful_login_forgets_earlier_failures(client, staff):
    fail(client, 4)
    assert log_in(client, "boss", RIGHT).status_code == 302
    client.logout()
    assert fail(client, 4) == [200] * 4  # not locked after a fifth failure in all


class Browser:
    """A login form as a browser fills it in, over real HTTP: CSRF cookie and token, no redirects."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects()]
        self.opener = urllib.request.build_opener(*handlers)

    def log_in(self, username: str, password: str, *, forwarded_for: str) -> int:
        with self.opener.open(self.base_url + LOGIN, timeout=10) as page:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())[1]
        form = {"csrfmiddlewaretoken": token, "username": username, "password": password}
        request = urllib.request.Request(
            self.base_url + LOGIN,
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Forwarded-For": forwarded_for},
        )
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a successful login's 302 is the answer


def test_behind_the_trusted_proxy_each_forwarded_client_is_counted_apart(start_server, staff):
    # uvicorn as the Procfile runs it: proxy headers on, trusted from FORWARDED_ALLOW_IPS (127.0.0.1).
    server = start_server("uvicorn", FORWARDED_ALLOW_IPS="127.0.0.1")
    hasher = PBKDF2PasswordHasher()  # the web process has production's hashers, not the tests' MD5
    staff.password = hasher.encode(RIGHT, hasher.salt())
    staff.save()
    browser = Browser(server.url)
    statuses = [browser.log_in(f"guess{n}", "wrong", forwarded_for="198.51.100.7") for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    assert browser.log_in("boss", RIGHT, forwarded_for="198.51.100.7") == 429
    assert Browser(server.url).log_in("boss", RIGHT, forwarded_for="192.0.2.9") == 302
