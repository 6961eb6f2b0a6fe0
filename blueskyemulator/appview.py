"""The AppView's accounts and ``app.bsky.actor.getProfiles``.

From atproto ``lexicons/app/bsky/actor/getProfiles.json`` (``actors``: required array of
at-identifiers, ``maxLength`` 25; output ``{"profiles": [profileViewDetailed]}``),
``lexicons/app/bsky/actor/defs.json#profileViewDetailed`` (did and handle required; displayName,
description, avatar, counts, indexedAt, createdAt, viewer, labels), and the AppView's handler
``packages/bsky/src/api/app/bsky/actor/getProfiles.ts`` (actors resolve with ``getDidsDefined``,
so unknown ones are left out, and the rest come back in the order asked). The 400 body is what
``packages/xrpc-server`` makes of a ``packages/lexicon`` validation error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import records as r

MAX_ACTORS = 25  # getProfiles.json: "actors" "maxLength": 25


def xrpc_error(error: str, message: str) -> dict:
    """The XRPC error body (atproto HTTP spec): ``{"error", "message"}``."""
    return {"error": error, "message": message}


@dataclass
class Account:
    did: str
    handle: str
    display_name: str = ""
    avatar: str | None = None
    description: str | None = None
    created_at: str = field(default_factory=r.iso_ms)
    active: bool = True
    status: str | None = None  # deactivated, takendown, deleted… (com.atproto.sync.subscribeRepos#account)
    posts_count: int = 0
    followers_count: int = 0

    def profile_view(self) -> dict:
        """profileViewDetailed, with the fields a public (logged-out) AppView call returns."""
        view = {"did": self.did, "handle": self.handle, "displayName": self.display_name}
        if self.description is not None:
            view["description"] = self.description
        if self.avatar:
            view["avatar"] = self.avatar
        view.update(
            followersCount=self.followers_count,
            followsCount=0,
            postsCount=self.posts_count,
            indexedAt=self.created_at,
            createdAt=self.created_at,
            viewer={"muted": False, "blockedBy": False},
            labels=[],
        )
        return view


class AccountBook:
    """Accounts by DID and by handle (handles compare case-insensitively, as atproto's do)."""

    def __init__(self) -> None:
        self.by_did: dict[str, Account] = {}
        self.by_handle: dict[str, Account] = {}

    def add(
        self,
        handle: str,
        *,
        did: str | None = None,
        display_name: str | None = None,
        avatar: str | None = None,
        description: str | None = None,
        followers_count: int = 0,
        created_at: str | None = None,
    ) -> Account:
        """Add (or replace) an account; its DID defaults to a did:plc derived from the handle."""
        handle = handle.lower().removeprefix("@")
        account = Account(
            did=did or r.plc_did(handle),
            handle=handle,
            display_name=display_name if display_name is not None else handle.split(".")[0],
            avatar=avatar,
            description=description,
            followers_count=followers_count,
        )
        if created_at is not None:
            account.created_at = created_at
        old = self.by_did.get(account.did)
        if old is not None:
            self.by_handle.pop(old.handle, None)
        self.by_did[account.did] = account
        self.by_handle[handle] = account
        return account

    def resolve(self, actor: str) -> Account | None:
        """A DID or a handle (with or without ``@``) -> the account, or None."""
        if actor.startswith("did:"):
            return self.by_did.get(actor)
        return self.by_handle.get(actor.lower().removeprefix("@"))

    def rename(self, account: Account, handle: str) -> None:
        self.by_handle.pop(account.handle, None)
        account.handle = handle.lower()
        self.by_handle[account.handle] = account

    def get_profiles(self, actors: list[str]) -> tuple[int, dict]:
        """(status, body) for ``getProfiles?actors=…``: known actors' views, in the order asked."""
        if not actors:
            return 400, xrpc_error("InvalidRequest", 'Error: Params must have the property "actors"')
        if len(actors) > MAX_ACTORS:
            message = f"Error: actors must not have more than {MAX_ACTORS} elements"
            return 400, xrpc_error("InvalidRequest", message)
        found = (self.resolve(actor) for actor in actors)
        return 200, {"profiles": [a.profile_view() for a in found if a is not None and a.active]}
