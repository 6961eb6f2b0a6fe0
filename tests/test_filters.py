"""Per-topic filters (feed/filters.py): each filter's verdict on posts in X's v2 stream shape."""

import json
import time

import pytest

from feed.filters import TopicFilters, is_hashbomb
from feed.models import Topic
from feed.normalize import normalize
from streamer.sources.x import EXPANSIONS, TWEET_FIELDS, USER_FIELDS
from xemulator.payloads import extract_entities

from xemulator_clients import Recorder, streaming, until

AUTHOR = {
    "id": "42",
    "username": "alice",
    "name": "Alice",
    "profile_image_url": "https://pbs.twimg.com/a.jpg",
    "created_at": "2019-03-01T08:00:00.000Z",
    "public_metrics": {"followers_count": 250, "following_count": 80, "tweet_count": 4100, "listed_count": 3},
}


def post(text="Great talk on async Django", *, lang="en", refs=None, author=None, entities=None, tweets=None):
    """A post as the worker receives it: one X v2 stream message through feed.normalize."""
    data = {
        "id": "1862000000000000001",
        "text": text,
        "author_id": "42",
        "created_at": "2026-11-25T10:00:00.000Z",
        "lang": lang,
        "edit_history_tweet_ids": ["1862000000000000001"],
        "entities": extract_entities(text) if entities is None else entities,
    }
    if refs is not None:
        data["referenced_tweets"] = [{"type": kind, "id": "1861999999999999999"} for kind in refs]
    includes = {"users": [AUTHOR if author is None else author]}
    if tweets:
        includes["tweets"] = tweets
    return normalize({"data": data, "includes": includes, "matching_rules": [{"id": "1", "tag": "py"}]})


def filters(**fields) -> TopicFilters:
    return TopicFilters.of(Topic(name="Python", slug="python", query="python", **fields))


def test_a_topic_without_filters_rejects_nothing():
    assert not filters().active
    assert filters().reason(post("RT @bob: #a #b", refs=["retweeted"], lang="ja")) is None


# --- reposts and replies --------------------------------------------------------------------------


def test_a_repost_is_rejected_as_repost():
    assert (
        filters(exclude_reposts=True).reason(post("RT @bob: PyCon was great", refs=["retweeted"])) == "repost"
    )


def test_a_quote_is_not_a_repost():
    assert filters(exclude_reposts=True).reason(post("Yes, this!", refs=["quoted"])) is None


def test_without_referenced_tweets_rt_text_is_a_repost():
    assert filters(exclude_reposts=True).reason(post("RT @bob: PyCon was great")) == "repost"


def test_a_reply_is_rejected_as_reply_and_an_original_post_is_not():
    only_replies = filters(exclude_replies=True)
    assert only_replies.reason(post("@bob agreed", refs=["replied_to"])) == "reply"
    assert only_replies.reason(post("@bob agreed", refs=["quoted", "replied_to"])) == "reply"
    assert only_replies.reason(post("Agreed", refs=[])) is None
    assert filters(exclude_replies=True).reason(post("RT @bob: hi", refs=["retweeted"])) is None


# --- languages ------------------------------------------------------------------------------------


def test_only_listed_languages_pass_compared_by_primary_tag():
    german_or_english = filters(languages=["de", "EN"])
    assert german_or_english.reason(post("Toller Vortrag", lang="de")) is None
    assert german_or_english.reason(post("Great talk", lang="en-GB")) is None
    assert german_or_english.reason(post("Très bonne conférence", lang="fr")) == "language"


def test_posts_x_found_no_language_in_pass_a_language_list():
    german = filters(languages=["de"])
    assert [german.reason(post("☕😴 #pycon", lang=code)) for code in ("und", "zxx", "qht", "qme", "")] == [
        None
    ] * 5


def test_x_legacy_language_codes_count_as_todays():
    assert filters(languages=["id"]).reason(post("Keren sekali", lang="in")) is None


# --- followers and account age --------------------------------------------------------------------


def test_an_author_with_fewer_followers_than_the_minimum_is_rejected():
    assert filters(min_followers=250).reason(post()) is None
    assert filters(min_followers=251).reason(post()) == "followers"


def test_an_account_younger_than_the_minimum_when_it_posted_is_rejected():
    new_account = {**AUTHOR, "created_at": "2026-11-20T10:00:00.000Z"}  # five days before the post
    assert filters(min_account_age_days=5).reason(post(author=new_account)) is None
    assert filters(min_account_age_days=6).reason(post(author=new_account)) == "account_age"


def test_unknown_followers_or_account_age_do_not_reject():
    unknown = {key: value for key, value in AUTHOR.items() if key not in ("public_metrics", "created_at")}
    strict = filters(min_followers=10_000, min_account_age_days=10_000)
    assert strict.reason(post(author=unknown)) is None
    assert strict.reason(post(author={**AUTHOR, "created_at": "yesterday", "public_metrics": {}})) is None
    assert strict.reason(post()) == "followers"


# --- profanity ------------------------------------------------------------------------------------


def test_profanity_in_english_is_rejected_on_word_boundaries():
    profanity = filters(profanity_filter=True)
    assert profanity.reason(post("What a SHIT keynote")) == "profanity"
    assert profanity.reason(post("what an ass.")) == "profanity"
    assert profanity.reason(post("A world-class keynote, first class")) is None
    assert profanity.reason(post("Passé, assassin, bass, grass")) is None


@pytest.mark.parametrize(
    ("lang", "text"),
    [("de", "Was für ein Arschloch"), ("fr", "Quel connard, ce speaker"), ("es", "Qué gilipollas es")],
)
def test_profanity_in_german_french_and_spanish_is_rejected(lang, text):
    assert filters(profanity_filter=True).reason(post(text, lang=lang)) == "profanity"


def test_profanity_is_matched_with_the_posts_language_so_a_french_word_is_german_please():
    # "bitte" is on glin-profanity's French list; in German it is "please".
    profanity = filters(profanity_filter=True)
    assert profanity.reason(post("Bitte mehr Vorträge wie diesen", lang="de")) is None
    assert profanity.reason(post("Quelle bitte", lang="fr")) == "profanity"


def test_profanity_in_the_quoted_post_or_the_authors_name_is_rejected():
    quoted = {"id": "1861999999999999999", "text": "this is bullshit", "author_id": "7"}
    profanity = filters(profanity_filter=True)
    assert profanity.reason(post("Disagree", refs=["quoted"], tweets=[quoted])) == "profanity"
    assert profanity.reason(post(author={**AUTHOR, "name": "Shit Poster"})) == "profanity"


def test_a_topics_extra_words_are_profanity_too_and_only_there():
    extra = filters(profanity_filter=True, profanity_extra_words="Schwurbler\n\n  crypto scam \n")
    assert extra.reason(post("So ein SCHWURBLER", lang="de")) == "profanity"
    assert extra.reason(post("another crypto   scam today")) == "profanity"
    assert extra.reason(post("#CryptoScam alert")) == "profanity"
    assert filters(profanity_filter=True).reason(post("So ein Schwurbler", lang="de")) is None


def test_profanity_check_is_fast_enough_for_every_post():
    profanity = filters(profanity_filter=True, profanity_extra_words="foo\nbar baz")
    tweets = [
        post(f"Talk {n}: async views, ORM and a very long sentence about Django", lang="de")
        for n in range(50)
    ]
    profanity.reason(tweets[0])  # compiles once
    start = time.perf_counter()
    for _ in range(20):
        for tweet in tweets:
            profanity.reason(tweet)
    assert (time.perf_counter() - start) / 1000 < 0.001  # well under a millisecond a post


# --- hashbombs ------------------------------------------------------------------------------------


def test_a_post_of_only_hashtags_and_mentions_is_a_hashbomb():
    bombs = filters(exclude_hashbombs=True)
    assert bombs.reason(post("#python #django #ai @bob @carol $TSLA")) == "hashbomb"
    assert bombs.reason(post("#python, #django! 🔥🔥 …")) == "hashbomb"


def test_hashtags_with_a_link_are_a_hashbomb_and_with_words_are_not():
    bombs = filters(exclude_hashbombs=True)
    assert bombs.reason(post("#python #django https://t.co/AbCdEf123")) == "hashbomb"
    assert bombs.reason(post("Slides are up: https://t.co/AbCdEf123 #python")) is None
    assert bombs.reason(post("#python 3.14 #django")) is None  # a version number is content


def test_a_post_without_entities_is_not_a_hashbomb():
    assert filters(exclude_hashbombs=True).reason(post("👍", entities={})) is None


def test_a_repost_of_hashtags_is_a_hashbomb_despite_its_rt():
    assert is_hashbomb(post("RT @bob: #python #django", refs=["retweeted"]))


def test_wrong_entity_offsets_fall_back_to_the_texts_tokens():
    shifted = {
        "hashtags": [{"start": 0, "end": 5, "tag": "python"}, {"start": 9, "end": 16, "tag": "django"}]
    }
    assert is_hashbomb(post("#python #django", entities=shifted))
    assert not is_hashbomb(post("#python rocks #django", entities=shifted))


def test_the_first_rejecting_filter_is_named():
    everything = filters(
        exclude_reposts=True, languages=["de"], profanity_filter=True, exclude_hashbombs=True
    )
    assert everything.reason(post("RT @bob: shit #a", refs=["retweeted"], lang="en")) == "repost"
    assert everything.reason(post("shit #a", lang="en")) == "language"
    assert everything.reason(post("Scheiße #a", lang="de")) == "profanity"


@pytest.mark.asyncio
async def test_the_posts_the_worker_asks_x_for_carry_what_each_filter_needs(emu):
    emu.add_rule("from:alice")
    emu.emit(text="Slides from my #python talk", author={"id": "7", "username": "bob"})
    original = emu.emitted[-1]["tweet"]["id"]
    young = {"id": "42", "username": "alice", "created_at": "2026-11-24T00:00:00.000Z"}
    few_followers = {"id": "42", "username": "alice", "public_metrics": {"followers_count": 2}}
    client = Recorder()
    fields = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
    async with streaming(emu, client, **fields):
        emu.emit(text="", author=young, retweet_of=original)
        emu.emit(text="@bob thanks", author=young, reply_to=original)
        emu.emit(text="Worth reading", author=few_followers, quote_of=original)
        emu.emit(text="Worth reading", author=young, quote_of=original, created_at="2026-11-25T00:00:00.000Z")
        assert await until(lambda: len(client.raw_lines) == 4)
    posts = [normalize(json.loads(line)) for line in client.raw_lines]
    strict = filters(exclude_reposts=True, exclude_replies=True, min_followers=10, min_account_age_days=7)
    assert [strict.reason(p) for p in posts] == ["repost", "reply", "followers", "account_age"]
