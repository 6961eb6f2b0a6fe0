"""Posts the database refused, kept aside so one post never blocks the ones behind it."""

import json

from feed.normalize import NormalizedTweet
from streamer.models import QuarantinedPost

# Long enough for any database's message and a traceback's last line; the row is read by a person.
MAX_ERROR_CHARS = 2_000


def post_quarantine(*, tweet: NormalizedTweet, error: BaseException) -> QuarantinedPost:
    """Keep `tweet`'s payload and why it was refused.

    Both are stored as ASCII text (json.dumps escapes lone surrogates and NULs; repr escapes the
    error), so whatever made the post unstorable cannot make its quarantine row unstorable too.
    """
    raw = json.dumps(tweet.raw, ensure_ascii=True, default=repr)
    reason = ascii(error)[:MAX_ERROR_CHARS]
    return QuarantinedPost.objects.create(x_id=tweet.network_id[:32], raw=raw, error=reason)
