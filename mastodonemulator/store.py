"""Accounts, custom emoji and statuses of one emulated instance, and its tag timelines.

Synchronous and loop-bound like the rest of the core. ``publish(event, record, payload)`` is
called for every ``update``, ``status.update`` and ``delete``; the core fans it out to sockets.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import content as fmt
from .entities import (
    Account,
    account_fields,
    custom_emoji,
    iso,
    media_attachment,
    media_spec,
    origin_of,
    parse_time,
    snowflake_ms,
    status_skeleton,
    tag_entity,
)

DEFAULT_ACCOUNT = "emulator"
TIMELINE_DEFAULT_LIMIT = 20  # timelines.md: "Defaults to 20 statuses. Max 40 statuses."
TIMELINE_MAX_LIMIT = 40
MAX_EXTRA_TAGS = 4  # timelines.md: any[]/all[]/none[] apply at most 4 tags each


def dumps(entity: object) -> str:
    return json.dumps(entity, ensure_ascii=False, separators=(",", ":"))


@dataclass
class StatusRecord:
    id: int
    entity: dict
    account: Account
    local: bool
    tags: set[str] = field(default_factory=set)  # normalised names
    reblog_of: int | None = None

    @property
    def visibility(self) -> str:
        return self.entity["visibility"]

    @property
    def has_media(self) -> bool:
        return bool(self.entity["media_attachments"])


class StatusStore:
    def __init__(self, domain: str, publish: Callable[[str, StatusRecord, str], int]) -> None:
        self.domain = domain
        self.publish = publish
        self.accounts: dict[str, Account] = {}  # by acct
        self.emojis: dict[str, dict] = {}  # by shortcode: this instance's custom emoji
        self.statuses: dict[int, StatusRecord] = {}
        self.by_uri: dict[str, int] = {}
        self.tag_index: dict[str, list[int]] = {}  # normalised tag -> sorted public status ids
        self.known_tags: set[str] = set()  # every tag ever used here (for the 404 of timelines.md)
        self.last_id = 0  # ids stay unique and increasing across resets
        self._next_small_id = 100_000

    def _small_id(self) -> str:
        self._next_small_id += 1
        return str(self._next_small_id)

    def _status_id(self, moment: datetime, *, backdated: bool) -> int:
        candidate = snowflake_ms(moment, self.domain)
        if not backdated:
            candidate = max(candidate, self.last_id + 1)
        while candidate in self.statuses:
            candidate += 1
        self.last_id = max(self.last_id, candidate)
        return candidate

    # -- accounts and emoji ----------------------------------------------------

    def add_account(self, username: str, domain: str | None = None, **fields: object) -> Account:
        """Create or update an account; ``domain`` other than the instance's makes it remote."""
        domain = domain or self.domain
        acct = username if domain == self.domain else f"{username}@{domain}"
        account = self.accounts.get(acct)
        if account is None:
            account = Account(
                id=self._small_id(), username=username, domain=domain, local=domain == self.domain
            )
            self.accounts[acct] = account
        for name, value in fields.items():
            if hasattr(account, name) and name not in ("id", "username", "domain", "local"):
                setattr(account, name, value)
            else:
                account.extra[name] = value
        return account

    def account(self, spec: str | dict | Account | None) -> Account:
        if isinstance(spec, Account):
            return spec
        if spec is None:
            spec = DEFAULT_ACCOUNT
        if isinstance(spec, str):
            username, _, domain = spec.lstrip("@").partition("@")
            return self.accounts.get(spec.lstrip("@")) or self.add_account(username, domain or None)
        spec = dict(spec)
        username = spec.pop("username")
        if "acct" in spec and "@" in spec["acct"]:
            spec.setdefault("domain", spec["acct"].split("@", 1)[1])
        spec.pop("acct", None)
        return self.add_account(username, spec.pop("domain", None), **spec)

    def add_emoji(self, shortcode: str, url: str | None = None, category: str | None = None) -> dict:
        self.emojis[shortcode] = custom_emoji(shortcode, self.domain, url, category=category)
        return self.emojis[shortcode]

    def _resolve_mention(self, origin: str) -> Callable[[str, str | None], tuple[str, str, str] | None]:
        def resolve(user: str, domain: str | None) -> tuple[str, str, str] | None:
            domain = domain or origin
            acct = user if domain == self.domain else f"{user}@{domain}"
            account = self.accounts.get(acct)
            return None if account is None else (acct, account.username, account.url)

        return resolve

    # -- statuses ----------------------------------------------------------------

    def emit(
        self,
        text: str | None = None,
        *,
        account: str | dict | Account | None = None,
        content: str | None = None,
        tags: Iterable[str] | None = None,
        spoiler_text: str = "",
        sensitive: bool | None = None,
        visibility: str = "public",
        language: str | None = "en",
        media: Iterable[dict] = (),
        emojis: Iterable[dict] | None = None,
        mentions: Iterable[str] | None = None,
        in_reply_to: str | int | None = None,
        reblog_of: str | int | None = None,
        uri: str | None = None,
        url: str | None = None,
        created_at: str | datetime | None = None,
    ) -> dict:
        """Publish a status (see :meth:`MastodonEmulator.emit`); returns its Status entity."""
        author = self.account(account)
        parent = self._get(in_reply_to) if in_reply_to is not None else None
        moment = parse_time(created_at)
        sid = self._status_id(moment, backdated=created_at is not None or not author.local)
        origin_id = str(sid) if author.local or uri is None else uri.rstrip("/").rsplit("/", 1)[-1]
        if reblog_of is not None:
            return self._boost(sid, moment, author, self._get(reblog_of), uri)
        body = self._body(text, content, tags, spoiler_text, author, emojis, mentions)
        author.statuses_count += 1
        entity = status_skeleton(sid, moment, author)
        entity.update(
            sensitive=bool(sensitive) if sensitive is not None else bool(spoiler_text),
            spoiler_text=spoiler_text,
            visibility=visibility,
            language=language,
            uri=uri or f"{author.uri}/statuses/{origin_id}",
            url=url or f"{author.url}/{origin_id}",
            application={"name": "Web", "website": None} if author.local else None,
            media_attachments=[
                media_attachment(m, media_id=self._small_id(), domain=author.domain, local=author.local)
                for m in media
            ],
            **body,
        )
        if parent is not None:
            parent.entity["replies_count"] += 1
            entity["in_reply_to_id"] = parent.entity["id"]
            entity["in_reply_to_account_id"] = parent.account.id
        record = StatusRecord(
            sid, entity, author, author.local, {fmt.normalize_tag(t["name"]) for t in body["tags"]}
        )
        self._store(record)
        self.publish("update", record, dumps(entity))
        return entity

    def _body(self, text, content, tags, spoiler_text, author: Account, emojis, mentions) -> dict:
        """content, tags, mentions and emojis of a status, from text or from raw HTML."""
        if content is None:
            rendered = fmt.render(
                text or "",
                origin=author.domain,
                local=author.local,
                resolve_mention=self._resolve_mention(author.domain),
            )
            content, tag_names, accts = rendered.html, rendered.tags, rendered.mentions
            shortcodes = rendered.shortcodes + fmt.SHORTCODE.findall(spoiler_text)
        else:  # raw HTML, e.g. hostile content for sanitiser tests: passed through untouched
            tag_names, accts = fmt.hashtags_in(fmt.text_of(content)), []
            shortcodes = fmt.SHORTCODE.findall(fmt.text_of(content) + spoiler_text)
        if tags is not None:
            tag_names = list(tags)
        if mentions is not None:
            accts = list(mentions)
        if emojis is None:
            emojis = [self.emojis[c] for c in dict.fromkeys(shortcodes) if c in self.emojis]
        return {
            "content": content,
            "tags": [tag_entity(t, self.domain) for t in dict.fromkeys(tag_names)],
            "mentions": [self.account(a).mention() for a in accts],
            "emojis": list(emojis),
        }

    def _boost(
        self, sid: int, moment: datetime, author: Account, original: StatusRecord, uri: str | None
    ) -> dict:
        """A reblog: its own id, account and uri, ``reblog`` = the original; its own content,
        tags, media and mentions empty (Status.md ``reblog``)."""
        original.entity["reblogs_count"] += 1
        author.statuses_count += 1
        entity = status_skeleton(sid, moment, author)
        entity.update(uri=uri or f"{author.uri}/statuses/{sid}/activity", reblog=original.entity)
        record = StatusRecord(sid, entity, author, author.local, reblog_of=original.id)
        self._store(record)
        self.publish("update", record, dumps(entity))
        return entity

    def _store(self, record: StatusRecord) -> None:
        self.statuses[record.id] = record
        self.by_uri.setdefault(record.entity["uri"], record.id)
        self._index(record)

    def _index(self, record: StatusRecord) -> None:
        self.known_tags |= record.tags
        if record.visibility == "public" and record.reblog_of is None:
            for tag in record.tags:
                bisect.insort(self.tag_index.setdefault(tag, []), record.id)

    def _unindex(self, record: StatusRecord) -> None:
        for tag in record.tags:
            ids = self.tag_index.get(tag, [])
            at = bisect.bisect_left(ids, record.id)
            if at < len(ids) and ids[at] == record.id:
                del ids[at]

    def _get(self, status_id: str | int) -> StatusRecord:
        record = self.statuses.get(int(status_id))
        if record is None:
            raise KeyError(f"no status {status_id}")
        return record

    def get(self, status_id: str | int) -> dict | None:
        record = self.statuses.get(int(status_id)) if str(status_id).isdigit() else None
        return None if record is None else record.entity

    def edit(
        self,
        status_id: str | int,
        *,
        text: str | None = None,
        content: str | None = None,
        spoiler_text: str | None = None,
        sensitive: bool | None = None,
        media: Iterable[dict] | None = None,
        language: str | None = None,
        edited_at: str | datetime | None = None,
    ) -> dict:
        """Edit in place (same id and uri, new ``edited_at``); publishes ``status.update``
        to the streams the edited status now matches."""
        record = self._get(status_id)
        if record.reblog_of is not None:
            raise ValueError("a boost cannot be edited")
        entity = record.entity
        spoiler = entity["spoiler_text"] if spoiler_text is None else spoiler_text
        if text is not None or content is not None:
            body = self._body(text, content, None, spoiler, record.account, None, None)
            entity.update(
                content=body["content"], tags=body["tags"], mentions=body["mentions"], emojis=body["emojis"]
            )
        if media is not None:
            a = record.account
            entity["media_attachments"] = [
                media_attachment(m, media_id=self._small_id(), domain=a.domain, local=a.local) for m in media
            ]
        entity["spoiler_text"] = spoiler
        if sensitive is not None:
            entity["sensitive"] = bool(sensitive)
        if language is not None:
            entity["language"] = language
        entity["edited_at"] = iso(parse_time(edited_at) if edited_at else datetime.now(UTC))
        self._unindex(record)
        record.tags = {fmt.normalize_tag(t["name"]) for t in entity["tags"]}
        self._index(record)
        self.publish("status.update", record, dumps(entity))
        return entity

    def delete(self, status_id: str | int) -> bool:
        """Remove a status and its boosts; publishes ``delete`` (payload: the id string)."""
        record = self.statuses.get(int(status_id))
        if record is None:
            return False
        for boost in [r for r in self.statuses.values() if r.reblog_of == record.id]:
            self.delete(boost.id)
        del self.statuses[record.id]
        if self.by_uri.get(record.entity["uri"]) == record.id:
            del self.by_uri[record.entity["uri"]]
        self._unindex(record)
        self.publish("delete", record, str(record.id))
        return True

    def federate(self, entity: dict) -> dict:
        """Receive a Status entity from another instance, as federation would: same ``uri``
        and ``url``, the author (and mentions) as remote accounts, a local id of its own."""
        if entity["uri"] in self.by_uri:
            return self.statuses[self.by_uri[entity["uri"]]].entity
        origin = origin_of(entity["account"])
        author = self.account({**account_fields(entity["account"]), "domain": origin})
        if entity.get("reblog"):
            original = self.federate(entity["reblog"])
            return self.emit(
                account=author, reblog_of=original["id"], uri=entity["uri"], created_at=entity["created_at"]
            )
        return self.emit(
            account=author,
            content=entity["content"],
            tags=[t["name"] for t in entity["tags"]],
            spoiler_text=entity["spoiler_text"],
            sensitive=entity["sensitive"],
            visibility=entity["visibility"],
            language=entity["language"],
            media=[media_spec(m) for m in entity["media_attachments"]],
            emojis=entity["emojis"],
            mentions=[m["acct"] if "@" in m["acct"] else f"{m['acct']}@{origin}" for m in entity["mentions"]],
            uri=entity["uri"],
            url=entity["url"],
            created_at=entity["created_at"],
        )

    # -- timelines ---------------------------------------------------------------

    def tag_timeline(
        self,
        tag: str,
        *,
        any_tags: Iterable[str] = (),
        all_tags: Iterable[str] = (),
        none_tags: Iterable[str] = (),
        local: bool = False,
        remote: bool = False,
        only_media: bool = False,
        max_id: int | None = None,
        since_id: int | None = None,
        min_id: int | None = None,
        limit: int = TIMELINE_DEFAULT_LIMIT,
    ) -> list[dict] | None:
        """Public statuses with the tag, newest first; None when the tag was never used.

        ``min_id`` pages forward from a cursor (the statuses just after it), ``since_id``
        gives the newest statuses after it, ``max_id`` the ones before it (guidelines.md)."""
        wanted = [fmt.normalize_tag(tag)] + [fmt.normalize_tag(t) for t in list(any_tags)[:MAX_EXTRA_TAGS]]
        if not any(t in self.known_tags for t in wanted):
            return None
        required = {fmt.normalize_tag(t) for t in list(all_tags)[:MAX_EXTRA_TAGS]}
        excluded = {fmt.normalize_tag(t) for t in list(none_tags)[:MAX_EXTRA_TAGS]}
        ids = self.tag_index.get(wanted[0], [])
        if len(wanted) > 1:
            ids = sorted(set().union(*(self.tag_index.get(t, ()) for t in wanted)))
        lower = max(since_id or 0, min_id or 0)
        lo = bisect.bisect_right(ids, lower)
        hi = bisect.bisect_left(ids, max_id) if max_id is not None else len(ids)
        window = ids[lo:hi] if min_id is not None else reversed(ids[lo:hi])
        limit = max(1, min(limit, TIMELINE_MAX_LIMIT))
        page: list[StatusRecord] = []
        for sid in window:
            record = self.statuses[sid]
            if required - record.tags or excluded & record.tags:
                continue
            if (
                (local and not record.local)
                or (remote and record.local)
                or (only_media and not record.has_media)
            ):
                continue
            page.append(record)
            if len(page) == limit:
                break
        page.sort(key=lambda r: r.id, reverse=True)
        return [r.entity for r in page]
