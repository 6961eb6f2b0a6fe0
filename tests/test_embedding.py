"""Embedding a wall: /topics/<slug>/embed/ may be framed by exactly the https origins an admin lists
on the topic (CSP frame-ancestors); every other page, and the embed of a topic that lists none,
keeps refusing every frame (X-Frame-Options DENY and frame-ancestors 'none')."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from feed.embedding import EmbedOriginsField, validate_embed_origins
from feed.models import Topic

pytestmark = pytest.mark.django_db

ORIGINS = ["https://conference.example", "https://news.example:8443"]


def directive(response, name: str) -> list[str]:
    policy = response.headers["Content-Security-Policy"]
    found = [part.split() for part in policy.split(";") if part.split()[:1] == [name]]
    assert len(found) == 1, policy
    return found[0][1:]


def refuses_frames(response) -> bool:
    return response.headers.get("X-Frame-Options") == "DENY" and directive(response, "frame-ancestors") == [
        "'none'"
    ]


@pytest.fixture
def embeddable() -> Topic:
    return Topic.objects.create(name="PyCon", slug="pycon", query="#PyCon", embed_origins=ORIGINS)


def test_the_embed_may_be_framed_by_exactly_the_listed_origins(client, embeddable):
    response = client.get("/topics/pycon/embed/")
    assert response.status_code == 200
    assert directive(response, "frame-ancestors") == ORIGINS
    assert "X-Frame-Options" not in response.headers
    assert b'<base target="_blank">' in response.content  # its links leave the frame
    assert b"PyCon" in response.content and b'class="audience__qr"' in response.content


def test_the_embeds_policy_keeps_the_rest_of_the_policy_and_the_image_hosts(client, embeddable):
    def others(url: str) -> list[str]:
        policy = client.get(url).headers["Content-Security-Policy"]
        return [part.strip() for part in policy.split(";") if not part.strip().startswith("frame-ancestors")]

    assert others("/topics/pycon/embed/") == others("/topics/pycon/wall/")
    assert "https://pbs.twimg.com" in directive(client.get("/topics/pycon/embed/"), "img-src")


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/topics/pycon/",
        "/topics/pycon/wall/",
        "/topics/pycon/moderate/",
        "/api/topics/",
        "/api/topics/pycon/rate/",
        "/admin/login/",
    ],
)
def test_every_other_page_still_refuses_frames(client, embeddable, url):
    assert refuses_frames(client.get(url))


def test_an_embed_with_no_origins_listed_refuses_frames(client):
    Topic.objects.create(name="PyCon", slug="pycon", query="#PyCon")
    response = client.get("/topics/pycon/embed/")
    assert response.status_code == 200
    assert refuses_frames(response)


def test_an_inactive_or_unknown_topic_has_no_embed(client, embeddable):
    assert client.get("/topics/nope/embed/").status_code == 404
    Topic.objects.filter(pk=embeddable.pk).update(is_active=False)
    response = client.get("/topics/pycon/embed/")
    assert response.status_code == 404
    assert refuses_frames(response)


@pytest.mark.parametrize(
    "origins",
    [
        ["http://conference.example"],  # https only: a framing page on plain HTTP can be anyone
        ["https://conference.example/wall"],  # an origin has no path
        ["https://conference.example/?q"],
        ["https://user@conference.example"],
        ["*"],
        ["https://*.example"],
        ["'self'"],
        ["https://a.example; script-src *"],
        ["https://a.example https://b.example"],
        ["https://"],
        ["https://exa mple.org"],
        ["https://a.example:99999"],
        "https://a.example",  # a list, not a string
    ],
)
def test_only_https_origins_are_accepted(origins):
    with pytest.raises(ValidationError):
        validate_embed_origins(origins)


def test_the_model_refuses_a_bad_origin():
    topic = Topic(name="PyCon", slug="pycon", query="#PyCon", embed_origins=["http://a.example"])
    with pytest.raises(ValidationError) as refused:
        topic.full_clean()
    assert "embed_origins" in refused.value.message_dict


def test_the_form_field_takes_origins_one_a_line_or_comma_separated_and_normalises_them():
    field = EmbedOriginsField(required=False)
    typed = "HTTPS://Conference.Example/\r\nhttps://news.example:8443, https://news.example:8443\n\n"
    assert field.clean(typed) == ["https://conference.example", "https://news.example:8443"]
    assert field.clean("") == []
    assert field.prepare_value(ORIGINS) == "\n".join(ORIGINS)
    with pytest.raises(ValidationError) as refused:
        field.clean("https://ok.example\nhttp://plain.example")
    assert "http://plain.example" in str(refused.value)


def test_an_admin_lists_the_origins_on_the_topics_page(admin_client, embeddable):
    url = reverse("admin:feed_topic_change", args=[embeddable.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="embed_origins"' in page and "/topics/pycon/embed/" in page
    data = {
        "name": "PyCon",
        "query": "#PyCon",
        "is_active": "on",
        "moderation": "open",
        "networks": ["x"],
        "embed_origins": "https://other.example/\nhttps://conference.example",
        "wall-TOTAL_FORMS": "0",  # the wall settings inline, left as it is
        "wall-INITIAL_FORMS": "0",
    }
    assert admin_client.post(url, data).status_code == 302
    embeddable.refresh_from_db()
    assert embeddable.embed_origins == ["https://other.example", "https://conference.example"]
    refused = admin_client.post(url, {**data, "embed_origins": "http://other.example"})
    assert refused.status_code == 200 and "https" in refused.content.decode()
