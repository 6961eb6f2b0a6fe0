"""The stream's rule set, validated with the project's ``feed.rules``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from feed.rule_facts import NO_FACTS, PostFacts
from feed.rules import Rule, RuleError, compile_rule

from . import payloads as p

log = logging.getLogger("xemulator")


class RuleBook:
    def __init__(self, *, max_rules: int, max_rule_length: int, new_id: Callable[[], str]) -> None:
        self.max_rules = max_rules
        self.max_rule_length = max_rule_length
        self._new_id = new_id
        self.rules: dict[str, dict] = {}  # id -> {"id", "value", "tag"?}, in creation order
        self._compiled: dict[str, Rule] = {}

    def matching(self, *, text: str, author_username: str, facts: PostFacts = NO_FACTS) -> list[dict]:
        """The rules a Post matches, on its text and author and its facts (lang:, is:, has:)."""
        kwargs = facts.kwargs()
        return [
            rule
            for rid, rule in self.rules.items()
            if self._compiled[rid].matches(text=text, author_username=author_username, **kwargs)
        ]

    def get(self, ids: list[str]) -> dict:
        """``GET /2/tweets/search/stream/rules`` body (no ``data`` when empty)."""
        rules = [r for r in self.rules.values() if not ids or r["id"] in ids]
        body: dict = {"meta": {"sent": p.iso_now(), "result_count": len(rules)}}
        if rules:
            body = {"data": rules, **body}
        return body

    def add(self, value: str, tag: str | None = None) -> dict:
        """Add one rule directly (no HTTP); raises RuleError."""
        _status, body = self.modify({"add": [{"value": value, "tag": tag}]})
        if body.get("errors"):
            error = body["errors"][0]
            raise RuleError((error.get("details") or [error["title"]])[0])
        return body["data"][0]

    def remove(self, rule_id: str) -> bool:
        """Delete one rule directly (no HTTP); False if there is no such rule."""
        if rule_id not in self.rules:
            return False
        log.info("rule removed outside the API: %s", self.rules[rule_id]["value"])
        del self.rules[rule_id]
        del self._compiled[rule_id]
        return True

    def modify(self, payload: object, *, dry_run: bool = False) -> tuple[int, dict]:
        """``POST /2/tweets/search/stream/rules``: returns (status, body)."""
        if not isinstance(payload, dict) or ("add" in payload) == ("delete" in payload):
            return 400, p.invalid_request("Exactly one of 'add' or 'delete' is required.")
        if "add" in payload:
            return self._add(payload["add"], dry_run)
        return self._delete(payload["delete"], dry_run)

    def _add(self, items: object, dry_run: bool) -> tuple[int, dict]:
        if not isinstance(items, list) or not items:
            return 400, p.invalid_request("'add' must be a non-empty array of rules.")
        existing = {r["value"]: r["id"] for r in self.rules.values()}
        errors: list[dict] = []
        valid: list[tuple[str, str | None, Rule]] = []
        batch: set[str] = set()
        for item in items:
            value = item.get("value") if isinstance(item, dict) else None
            tag = item.get("tag") if isinstance(item, dict) else None
            if not isinstance(value, str) or (tag is not None and not isinstance(tag, str)):
                return 400, p.invalid_request("Each rule needs a string 'value' (and 'tag').")
            if value in existing or value in batch:
                errors.append(p.duplicate_rule(value, existing.get(value)))
                continue
            try:
                compiled = compile_rule(value, max_length=self.max_rule_length)
            except RuleError as exc:
                errors.append(p.invalid_rule(value, str(exc)))
                continue
            batch.add(value)
            valid.append((value, tag, compiled))
        if not errors and len(self.rules) + len(valid) > self.max_rules:
            errors.append(p.rules_cap(self.max_rules))
        created = []
        # All or none. X's reference for POST /2/tweets/search/stream/rules (docs.x.com, "Update
        # stream rules") gives `data` as "all user-specified stream filtering rules that were created"
        # and counts `meta.summary` as created / not_created / valid / invalid, so a valid rule can go
        # uncreated: that happens when another rule in the same request is refused. The pages found
        # do not state the rule in one sentence, so the emulator takes the stricter reading (one
        # invalid rule, duplicate or cap refusal creates none), the case a client must survive.
        if not errors:
            for value, tag, compiled in valid:
                rule = {"id": self._new_id(), "value": value}
                if tag is not None:
                    rule["tag"] = tag
                created.append(rule)
                if not dry_run:
                    self.rules[rule["id"]] = rule
                    self._compiled[rule["id"]] = compiled
        summary = {
            "created": len(created),
            "not_created": len(items) - len(created),
            "valid": len(valid),
            "invalid": len(items) - len(valid),
        }
        body: dict = {}
        if created:
            body["data"] = created
        body["meta"] = {"sent": p.iso_now(), "summary": summary}
        if errors:
            body["errors"] = errors
        if created and not dry_run:
            log.info("rules added: %s", ", ".join(r["value"] for r in created))
        return (201 if created and not dry_run else 200), body

    def _delete(self, spec: object, dry_run: bool) -> tuple[int, dict]:
        ids = spec.get("ids", []) if isinstance(spec, dict) else None
        values = spec.get("values", []) if isinstance(spec, dict) else None
        if not isinstance(ids, list) or not isinstance(values, list) or not (ids or values):
            return 400, p.invalid_request("'delete' needs a non-empty 'ids' or 'values' array.")
        by_value = {r["value"]: r["id"] for r in self.rules.values()}
        found, errors = [], []
        for rid in map(str, ids):
            if rid in self.rules:
                found.append(rid)
            else:
                errors.append(p.rule_not_found(rid))
        for value in map(str, values):
            if value in by_value:
                found.append(by_value[value])
            else:
                errors.append(p.rule_not_found(value))
        found = list(dict.fromkeys(found))
        if not dry_run:
            for rid in found:
                log.info("rule deleted: %s", self.rules[rid]["value"])
                del self.rules[rid]
                del self._compiled[rid]
        summary = {"deleted": len(found), "not_deleted": len(ids) + len(values) - len(found)}
        body: dict = {"meta": {"sent": p.iso_now(), "summary": summary}}
        if errors:
            body["errors"] = errors
        return 200, body
