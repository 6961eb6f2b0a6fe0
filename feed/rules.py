"""The topic rule language: the subset of X's filtered-stream rules that tweetsite supports.

Network-neutral, in `feed` so that the admin's validation, every source in `streamer` (the replay,
Bluesky and Mastodon sources match locally, having no server-side filter) and the local X emulator
import it one way, and a rule that validates here matches the same posts everywhere.
Semantics follow docs.x.com/x-api/posts/filtered-stream/integrate/build-a-rule and its operator
reference:

- standalone terms: keywords, "phrases", #hashtags, @mentions and from:;
- conjunction-required operators, matched on a post's facts rather than its words: `lang:xx`,
  `is:reply`, `is:retweet` (a repost or a boost, on every network) and `has:media`. As on X they
  cannot match on their own: every OR alternative needs a standalone term too ('python has:media',
  not 'has:media' or 'python OR has:media'), so a rule that validates here is one X accepts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NoReturn

DEFAULT_MAX_RULE_LENGTH = 1024  # X pay-per-use access: 1,024 characters per rule
# The parser spends a few stack frames per level; capping nesting far below
# Python's recursion limit turns hostile input into a RuleError, not a crash.
MAX_NESTING_DEPTH = 32

_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
_OPERATOR = re.compile(r"[A-Za-z_]+:")
_MENTION_IN_TEXT = re.compile(r"(?<![\w@＠])[@＠]([A-Za-z0-9_]{1,15})(?![\w@＠])")
# Kana and CJK ideographs (incl. the supplementary planes); see _is_solo.
_UNSPACED = (0x3040, 0x30FF), (0x3400, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF)
_IGNORABLE = frozenset("\ufe0e\ufe0f")  # emoji variation selectors: presentation only
# lang: takes a language's primary code (BCP 47), as X classifies posts: "en", "de", "ckb".
_LANG_CODE = re.compile(r"[a-z]{2,3}")
# The operators matched on facts, by their spelling in a rule: (kind, value) of a _Fact.
_FACT_OPERATORS = {"is:reply": "reply", "is:retweet": "repost", "has:media": "media"}
_STANDALONE = 'a keyword, "phrase", #hashtag, @mention or from:'
_SUPPORTED = 'keywords, "phrases", #hashtags, @mentions, from:, lang:, is:reply, is:retweet and has:media'


class RuleError(ValueError):
    """A rule the project (and X) would refuse; str(err) is a user-facing message."""


def _fail(message: str, pos: int) -> NoReturn:
    raise RuleError(f"{message} (at character {pos})")


def _fold(s: str) -> str:
    # NFC so composed and decomposed accents compare equal; accents themselves
    # are kept, because X's filtered stream does not fold diacritics.
    return unicodedata.normalize("NFC", s).casefold()


def _flat(s: str) -> str:
    """What phrases are matched against: folded, whitespace runs collapsed."""
    return " ".join("".join(c for c in _fold(s) if c not in _IGNORABLE).split())


def _is_solo(ch: str) -> bool:
    # Chinese/Japanese are written without spaces, so each ideograph/kana is a
    # token of its own (keyword 東京 then matches as a two-token sequence).
    # Emoji are tokens too: X matches them like keywords.
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _UNSPACED) or unicodedata.category(ch) == "So"


def _is_word(ch: str) -> bool:
    # Marks count so Arabic harakat or Devanagari matras don't split words;
    # underscore counts because X's hashtags and usernames include it.
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


def _tokens(text: str) -> list[str]:
    """X's keyword tokenization: punctuation, symbols and separators split words."""
    out: list[str] = []
    word: list[str] = []
    for ch in _fold(text):
        solo = _is_solo(ch)
        if not solo and _is_word(ch):
            word.append(ch)
            continue
        if word:
            out.append("".join(word))
            word.clear()
        if solo:
            out.append(ch)
    if word:
        out.append("".join(word))
    return out


def _hashtags(text: str) -> frozenset[str]:
    found: set[str] = set()
    for m in re.finditer("[#＃]", text):
        start = end = m.start() + 1
        # As in X's entity extraction, "c#sharp" and "&#39;" are not hashtags.
        if start > 1 and (_is_word(text[start - 2]) or text[start - 2] == "&"):
            continue
        while end < len(text) and _is_word(text[end]):
            end += 1
        if end > start:
            found.add(_fold(text[start:end]))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class _Doc:
    """A tweet analysed once, then shared by every rule tested against it."""

    words: tuple[str, ...]
    word_set: frozenset[str]
    flat: str
    hashtags: frozenset[str]
    mentions: frozenset[str]


@lru_cache(maxsize=256)
def _analyse(text: str) -> _Doc:
    words = tuple(_tokens(text))
    mentions = frozenset(m.casefold() for m in _MENTION_IN_TEXT.findall(text))
    return _Doc(words, frozenset(words), _flat(text), _hashtags(text), mentions)


@dataclass(frozen=True, slots=True)
class _Keyword:
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Phrase:
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class _Entity:
    kind: str  # "hashtag", "mention" or "from"
    value: str


@dataclass(frozen=True, slots=True)
class _Not:
    child: _Node


@dataclass(frozen=True, slots=True)
class _Bool:
    op: str  # "AND" or "OR"
    children: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Fact:
    """A conjunction-required operator: a fact about the post, not its words."""

    kind: str  # "lang", "reply", "repost" or "media"
    value: str = ""  # the language code, for "lang"


_Node = _Keyword | _Phrase | _Entity | _Fact | _Not | _Bool


@dataclass(frozen=True, slots=True)
class _Post:
    """What a rule is tested against: the analysed text and the post's facts."""

    doc: _Doc
    author: str
    langs: tuple[str, ...]
    is_reply: bool
    is_repost: bool
    has_media: bool


def _lang_matches(code: str, langs: tuple[str, ...]) -> bool:
    # BCP 47 basic filtering: lang:pt matches a post tagged "pt" or "pt-BR" (Bluesky's tags).
    return any(lang == code or lang.startswith(code + "-") for lang in langs)


def _eval(node: _Node, post: _Post) -> bool:
    doc = post.doc
    match node:
        case _Keyword(tokens=(only,)):
            return only in doc.word_set
        case _Keyword(tokens=seq):
            # Unquoted "coca-cola" is the tokens coca, cola: they must be adjacent.
            n = len(seq)
            return any(doc.words[i : i + n] == seq for i in range(len(doc.words)))
        case _Phrase(pattern=pattern):
            return pattern.search(doc.flat) is not None
        case _Entity(kind="hashtag", value=tag):
            return tag in doc.hashtags
        case _Entity(kind="mention", value=username):
            return username in doc.mentions
        case _Entity(value=username):
            return username == post.author
        case _Fact(kind="lang", value=code):
            return _lang_matches(code, post.langs)
        case _Fact(kind="reply"):
            return post.is_reply
        case _Fact(kind="repost"):
            return post.is_repost
        case _Fact(kind="media"):
            return post.has_media
        case _Not(child=child):
            return not _eval(child, post)
        case _Bool(op="AND", children=children):
            return all(_eval(c, post) for c in children)
        case _Bool(children=children):
            return any(_eval(c, post) for c in children)


def _anchored(node: _Node) -> bool:
    """Whether a match needs some positive standalone term; X refuses rules that don't."""
    match node:
        case _Not() | _Fact():
            return False
        case _Bool(op="AND", children=children):
            return any(map(_anchored, children))
        case _Bool(children=children):
            return all(map(_anchored, children))
    return True


def _has_fact(node: _Node) -> bool:
    match node:
        case _Fact():
            return True
        case _Not(child=child):
            return _has_fact(child)
        case _Bool(children=children):
            return any(map(_has_fact, children))
    return False


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(", ")", "OR", "-" or "term"
    pos: int  # 1-based character position, for messages
    node: _Node | None = None


def _username(word: str, body: str, pos: int) -> str:
    if not _USERNAME.fullmatch(body):
        _fail(f"Bad username in '{word}': use 1-15 letters, digits or _", pos)
    return body.casefold()


def _phrase(quoted: str, pos: int) -> _Phrase:
    if not (needle := _flat(quoted)):
        _fail("Empty quotes: put a phrase between them", pos)
    # A phrase edge that is part of a word must not run on into a longer word
    # ("cat" is not in "concatenate"); unspaced scripts have no word edges.
    head = r"(?<!\w)" if _is_word(needle[0]) and not _is_solo(needle[0]) else ""
    tail = r"(?!\w)" if _is_word(needle[-1]) and not _is_solo(needle[-1]) else ""
    return _Phrase(re.compile(head + re.escape(needle) + tail))


def _term(word: str, pos: int) -> _Node:
    if word[0] in "#＃":
        if len(word) == 1 or not all(map(_is_word, word[1:])):
            _fail(f"Bad hashtag '{word}': use letters, digits or _ after #", pos)
        return _Entity("hashtag", _fold(word[1:]))
    if word[0] in "@＠":
        return _Entity("mention", _username(word, word[1:], pos))
    if op := _OPERATOR.match(word):
        return _operator(word, op.group(), pos)
    if re.match(r"\$[A-Za-z]", word):
        _fail(f"Cashtags like '{word}' are not supported", pos)
    if not (tokens := tuple(_tokens(word))):
        _fail(f"Keyword '{word}' has no letters, digits or emoji to match", pos)
    return _Keyword(tokens)


def _operator(word: str, op: str, pos: int) -> _Node:
    if op == "from:":
        return _Entity("from", _username(word, word[5:], pos))
    if op == "lang:":
        if not _LANG_CODE.fullmatch(word[5:]):
            _fail(f"Bad language in '{word}': use a lowercase language code such as lang:en or lang:de", pos)
        return _Fact("lang", word[5:])
    if word in _FACT_OPERATORS:
        return _Fact(_FACT_OPERATORS[word])
    if word == "is:repost":
        # X's filtered stream knows only is:retweet, and the rule is sent to X as written.
        _fail(
            "Write 'is:retweet' for reposts: X knows no 'is:repost', and is:retweet means "
            "reposts and boosts on every network",
            pos,
        )
    if op in ("is:", "has:"):
        _fail(f"'{word}' is not supported, only is:reply, is:retweet and has:media", pos)
    _fail(f"Operator '{op}' is not supported, only {_SUPPORTED}", pos)


def _lex(value: str) -> list[_Tok]:
    toks: list[_Tok] = []
    opened: list[int] = []  # positions of the "(" not closed yet
    i = 0
    while i < len(value):
        ch, pos = value[i], i + 1
        i += 1
        if ch.isspace():
            continue
        if ch == "(":
            opened.append(pos)
            if len(opened) > MAX_NESTING_DEPTH:
                _fail(f"Parentheses nest deeper than {MAX_NESTING_DEPTH} levels", pos)
            toks.append(_Tok("(", pos))
        elif ch == ")":
            if not opened:
                _fail("Unbalanced parentheses: this ')' has no matching '('", pos)
            opened.pop()
            toks.append(_Tok(")", pos))
        elif ch == '"':
            end = value.find('"', i)
            if end == -1:
                raise RuleError(f'Unbalanced quotes: a closing " is missing for the " at character {pos}')
            if value[end + 1 : end + 2] == "~":
                _fail('Proximity matching "..."~N is not supported', pos)
            toks.append(_Tok("term", pos, _phrase(value[i:end], pos)))
            i = end + 1
        elif ch == "-":
            if value[i : i + 1] in ("", ")") or value[i].isspace():
                _fail("Dangling '-': put the term to exclude right after it", pos)
            toks.append(_Tok("-", pos))
        else:
            end = i
            while end < len(value) and value[end] not in '()"' and not value[end].isspace():
                end += 1
            word, i = value[pos - 1 : end], end
            # Only uppercase OR is an operator, as on X; "or" is a plain keyword.
            if word == "OR":
                toks.append(_Tok("OR", pos))
            else:
                toks.append(_Tok("term", pos, _term(word, pos)))
    if opened:
        _fail("Unbalanced parentheses: this '(' is never closed", opened[-1])
    return toks


class _Parser:
    """Recursive descent; AND (whitespace) binds tighter than OR, as on X."""

    def __init__(self, toks: list[_Tok]) -> None:
        self.toks, self.i = toks, 0

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> _Node:
        return self._or()

    def _or(self) -> _Node:
        branches = [self._and()]
        while (tok := self._peek()) is not None and tok.kind == "OR":
            self.i += 1
            branches.append(self._and())
        return branches[0] if len(branches) == 1 else _Bool("OR", tuple(branches))

    def _and(self) -> _Node:
        items: list[_Node] = []
        while (tok := self._peek()) is not None and tok.kind not in ("OR", ")"):
            items.append(self._unary())
        if items:
            return items[0] if len(items) == 1 else _Bool("AND", tuple(items))
        prev = self.toks[self.i - 1] if self.i else None
        for t in (tok, prev):
            if t is not None and t.kind == "OR":
                _fail("OR needs a term on both sides", t.pos)
        if prev is not None and prev.kind == "(":
            _fail("Empty parentheses: put a term inside", prev.pos)
        raise RuleError("Rule is empty")

    def _unary(self) -> _Node:
        tok = self.toks[self.i]
        if tok.kind != "-":
            return self._primary()
        self.i += 1
        nxt = self._peek()
        if nxt is not None and nxt.kind == "-":
            _fail("Double '-': negate a term only once", tok.pos)
        if nxt is None or nxt.kind in ("OR", ")"):
            _fail("Dangling '-': follow it with a term or a (group)", tok.pos)
        # X's docs advise against negating a group, but its meaning is clear
        # and the project allows it: NOT of whatever the group matches.
        return _Not(self._primary())

    def _primary(self) -> _Node:
        tok = self.toks[self.i]
        self.i += 1
        if tok.node is not None:
            return tok.node
        inner = self._or()  # tok was "(": the lexer guarantees a matching ")"
        self.i += 1
        return inner


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule; build it with compile_rule()."""

    value: str
    _root: _Node = field(repr=False, compare=False)

    def matches(
        self,
        *,
        text: str,
        author_username: str = "",
        lang: str | Iterable[str] = "",
        is_reply: bool = False,
        is_repost: bool = False,
        has_media: bool = False,
    ) -> bool:
        """Whether the post matches. `lang` is its language code, or its codes (a Bluesky post may
        declare several); the facts default to "unknown language, an original post, no media"."""
        author = author_username.lstrip("@").casefold()
        langs = (lang,) if isinstance(lang, str) else tuple(lang)
        langs = tuple(code.casefold() for code in langs if code)
        post = _Post(_analyse(text), author, langs, is_reply, is_repost, has_media)
        return _eval(self._root, post)


def compile_rule(value: str, *, max_length: int = DEFAULT_MAX_RULE_LENGTH) -> Rule:
    """Validate and parse; raise RuleError."""
    if not isinstance(value, str):
        raise RuleError("Rule must be text")
    # Checked first so huge hostile input is refused before any parsing work.
    if len(value) > max_length:
        raise RuleError(f"Rule is {len(value):,} characters; the limit is {max_length:,}")
    if not value.strip():
        raise RuleError("Rule is empty")
    # The lexer rejects a stray ")", so parsing always consumes every token.
    root = _Parser(_lex(value)).parse()
    if not _anchored(root):
        if _has_fact(root):
            raise RuleError(
                "lang:, is:reply, is:retweet and has:media cannot match on their own: every "
                f"alternative needs {_STANDALONE} too (e.g. 'python has:media', not 'has:media' "
                "or 'python OR has:media')"
            )
        raise RuleError(
            "A rule cannot consist only of negated terms: every alternative needs "
            "a positive term too (e.g. 'cats -dogs', not '-dogs')"
        )
    return Rule(value, root)


def validate_rule(value: str, *, max_length: int = DEFAULT_MAX_RULE_LENGTH) -> None:
    """Raise RuleError with a clear message if the rule is invalid."""
    compile_rule(value, max_length=max_length)


_TERM_TEXT = re.compile(r'[^\s()"]+')


def rule_hashtags(value: str) -> list[str]:
    """The #hashtags a rule asks for, as first written, in order: what a wall invites the audience
    to post with. Not those it excludes (`-#spam`, or inside a negated group), nor a '#' in a
    "phrase"; the same tag in another case is one tag. An invalid rule has none."""
    try:
        toks = _lex(value)
    except RuleError:
        return []
    tags: dict[str, str] = {}
    groups: list[bool] = []  # for each open "(": whether the group is excluded
    negated = False  # the token before was "-"
    for tok in toks:
        excluded = negated or (bool(groups) and groups[-1])
        negated = tok.kind == "-"
        if tok.kind == "(":
            groups.append(excluded)
        elif tok.kind == ")":
            groups.pop()
        elif isinstance(tok.node, _Entity) and tok.node.kind == "hashtag" and not excluded:
            word = _TERM_TEXT.match(value, tok.pos - 1).group()
            tags.setdefault(tok.node.value, "#" + word[1:])
    return list(tags.values())
