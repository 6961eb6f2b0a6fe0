"""Reading posts' moderation states in tests: a tweet's state lives on each of its topics (TopicPost)."""

from feed.models import Topic, TopicPost, Tweet


def state_of(tweet: Tweet, topic: Topic | None = None) -> str:
    """The tweet's state on `topic`, or on its only topic."""
    posts = TopicPost.objects.filter(tweet=tweet)
    if topic is not None:
        posts = posts.filter(topic=topic)
    (state,) = set(posts.values_list("state", flat=True))
    return state


def off_texts(topic: Topic | None = None) -> set[str]:
    """Texts of the tweets that are not visible (hidden, blocked or pending) on `topic`, or anywhere."""
    posts = TopicPost.objects.exclude(state=TopicPost.State.VISIBLE)
    if topic is not None:
        posts = posts.filter(topic=topic)
    return set(posts.values_list("tweet__text", flat=True))


def is_visible(tweet: Tweet) -> bool:
    return state_of(tweet) == TopicPost.State.VISIBLE
