"""Behaviour of the X filtered-stream rule subset in feed.rules (no Django)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.rules import (
    DEFAULT_MAX_RULE_LENGTH,
    MAX_NESTING_DEPTH,
    Rule,
    RuleError,
    compile_rule,
    validate_rule,
)


def matches(rule: str, text: str, author: str = "") -> bool:
    return compile_rule(rule).matches(text=text, author_username=author)


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("django", "I love Django!", True),
        ("django", "DJANGO rocks", True),
        ("django", "djangonaut life", False),  # whole tokens only
        ("django", "new #django release", True),  # X tokenizes on punctuation
        ("cola", "I like coca-cola", True),
        ("coca-cola", "I like coca-cola", True),
        ("coca-cola", "coca and cola", False),  # unquoted keyword tokens adjacent
        ("or", "this or that", True),  # lowercase or is a keyword
        ("café", "un café noir", True),
        ("café", "un cafe noir", False),  # accents are not folded, as on X
        ("😃", "hello😃world", True),
        ("东京", "我爱东京塔", True),  # unspaced scripts: per-character tokens
        ("שלום", "!שלום עולם", True),
        ("مرحبا", "قال مرحبا للجميع", True),
    ],
)
def test_keyword_matches_whole_tokens_case_insensitively(rule, text, expected):
    assert matches(rule, text) is expected


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ('"live wall"', "Our LIVE  wall is up", True),
        ('"live wall"', "olive wallet", False),
        ('"coca-cola"', "I like Coca-Cola.", True),
        ('"coca-cola"', "coca cola", False),
        ('"(not a group)"', "this is (not a group) ok", True),
    ],
)
def test_exact_phrase_is_a_substring_on_token_boundaries(rule, text, expected):
    assert matches(rule, text) is expected


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("#django", "Hi #Django!", True),
        ("#django", "I like django", False),  # keyword text is not a hashtag
        ("#thanku", "#thankunext", False),  # hashtags match exactly
        ("#django", "c#django", False),  # not a hashtag entity
        ("#東京", "今日は #東京 です", True),
        ("#東京", "今日は#東京", False),  # like X, a hashtag can't follow a letter
        ("@xdevelopers", "thanks @XDevelopers!", True),
        ("@xdevelopers", "mail me: a@xdevelopers.com", False),
    ],
)
def test_hashtags_and_mentions_match_entities(rule, text, expected):
    assert matches(rule, text) is expected


def test_from_matches_the_author_case_insensitively():
    assert matches("from:XDevelopers", "anything", author="xdevelopers")
    assert matches("from:XDevelopers", "anything", author="@XDEVELOPERS")
    assert not matches("from:XDevelopers", "from XDevelopers", author="someone")


def test_whitespace_is_and():
    assert matches("django python", "python and django")
    assert not matches("django python", "just django")


def test_or_binds_looser_than_and():
    rule = "a b OR c"  # (a AND b) OR c
    assert matches(rule, "c")
    assert matches(rule, "a b")
    assert not matches(rule, "a")


def test_parentheses_group():
    rule = "a (b OR c)"
    assert matches(rule, "a c")
    assert not matches(rule, "c")


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("django -spam", "django spam", False),
        ("django -spam", "django ham", True),
        ('django -"buy now"', "django buy now", False),
        ("django -#ad", "django #ad", False),
        ("django -@bot", "django @bot", False),
        ("django -(spam OR ad)", "django ad", False),
        ("django -(spam OR ad)", "django rocks", True),
    ],
)
def test_negation_excludes_terms_and_groups(rule, text, expected):
    assert matches(rule, text) is expected


def test_negated_from_excludes_the_author():
    assert not matches("django -from:bot", "django", author="Bot")
    assert matches("django -from:bot", "django", author="human")


def test_rule_keeps_its_value_and_compares_by_it():
    rule = compile_rule("a OR b")
    assert isinstance(rule, Rule)
    assert rule.value == "a OR b"
    assert rule == compile_rule("a OR b")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('"live wall', 'Unbalanced quotes: a closing " is missing'),
        ("(a OR b", "Unbalanced parentheses"),
        ("a OR b)", "Unbalanced parentheses"),
        ("", "Rule is empty"),
        ("   ", "Rule is empty"),
        ("-spam", "A rule cannot consist only of negated terms"),
        ("-spam -ads", "A rule cannot consist only of negated terms"),
        ("django OR -spam", "A rule cannot consist only of negated terms"),
        ("a OR", "OR needs a term on both sides"),
        ("OR a", "OR needs a term on both sides"),
        ("a OR OR b", "OR needs a term on both sides"),
        ("(a OR) b", "OR needs a term on both sides"),
        ("a -", "Dangling '-'"),
        ("a - b", "Dangling '-'"),
        ("a (b -)", "Dangling '-'"),
        ("a -OR b", "Dangling '-'"),
        ("a --b", "Double '-'"),
        ("a ()", "Empty parentheses"),
        ('a ""', "Empty quotes"),
        ("a #", "Bad hashtag"),
        ("a #c++", "Bad hashtag"),
        ("a @", "Bad username"),
        ("from:", "Bad username"),
        ("from:way_too_long_username", "Bad username"),
        ("a has:links", "'has:links' is not supported"),
        ("a is:quote", "'is:quote' is not supported"),
        ("a to:someone", "Operator 'to:' is not supported"),
        ("$TWTR", "Cashtags"),
        ('"social media"~5', "Proximity"),
        ("a !!!", "Keyword '!!!' has no letters"),
    ],
)
def test_invalid_rule_names_the_problem(rule, message):
    with pytest.raises(RuleError) as err:
        validate_rule(rule)
    assert message in str(err.value)


def test_unbalanced_quote_names_the_problem():
    with pytest.raises(RuleError, match='a closing " is missing'):
        compile_rule('django "live wall')


def test_errors_point_at_the_offending_character():
    with pytest.raises(RuleError, match="character 3"):
        compile_rule("a (b")


def test_too_long_rule_reports_both_lengths():
    with pytest.raises(RuleError, match="Rule is 1,100 characters; the limit is 1,024"):
        compile_rule("a" * 1100)
    validate_rule("a" * DEFAULT_MAX_RULE_LENGTH)
    with pytest.raises(RuleError, match="the limit is 10"):
        compile_rule("a" * 11, max_length=10)


def test_rule_error_is_a_value_error():
    assert issubclass(RuleError, ValueError)


def test_lowercase_or_is_just_a_keyword():
    rule = compile_rule("cats or dogs")
    assert rule.matches(text="cats or dogs")
    assert not rule.matches(text="cats")


def test_deep_nesting_is_refused_without_recursion_error():
    deep = "(" * 10_000 + "a" + ")" * 10_000
    with pytest.raises(RuleError, match="nest deeper than"):
        compile_rule(deep, max_length=len(deep))
    ok = "(" * MAX_NESTING_DEPTH + "a" + ")" * MAX_NESTING_DEPTH
    assert compile_rule(ok).matches(text="a")


def test_huge_input_is_refused_by_length_first():
    with pytest.raises(RuleError, match="limit"):
        compile_rule('"' * 5_000_000)


def test_matching_huge_or_odd_text_does_not_crash():
    rule = compile_rule('django "live wall" #tag @user')
    assert not rule.matches(text="x" * 1_000_000)
    assert not rule.matches(text="\u202e\u200f\ufe0f\x00\ud800")
    assert rule.matches(text="👨‍👩‍👧 django #tag @user LIVE WALL")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_compile_rule_on_arbitrary_text_returns_rule_or_raises_rule_error(value):
    try:
        rule = compile_rule(value)
    except RuleError as err:
        assert str(err)
        return
    assert isinstance(rule, Rule)
    assert isinstance(rule.matches(text=value, author_username="x"), bool)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "b", "-c", "OR", "(", ")", '"a b"', "#a", "@b", "-"]),
        max_size=12,
    )
)
def test_rule_shaped_input_returns_rule_or_raises_rule_error(parts):
    try:
        compile_rule(" ".join(parts)).matches(text="a b c #a @b")
    except RuleError:
        pass


# --- Fact operators: lang:, is:reply, is:retweet, has:media (conjunction-required on X) ---------


@pytest.mark.parametrize(
    ("rule", "facts", "expected"),
    [
        ("python lang:de", {"lang": "de"}, True),
        ("python lang:de", {"lang": "en"}, False),
        ("python lang:de", {}, False),  # an unclassified post has no language
        ("python lang:pt", {"lang": "pt-BR"}, True),  # BCP 47 basic filtering
        ("python lang:pt", {"lang": "pt-br"}, True),
        ("python lang:pt", {"lang": "ptx"}, False),
        ("python lang:de", {"lang": ("en", "de")}, True),  # a Bluesky post may declare several
        ("python -lang:en", {"lang": "de"}, True),
        ("python -lang:en", {"lang": "en"}, False),
        ("python is:reply", {"is_reply": True}, True),
        ("python is:reply", {}, False),
        ("python -is:reply", {"is_reply": True}, False),
        ("python -is:reply", {}, True),
        ("python is:retweet", {"is_repost": True}, True),
        ("python -is:retweet", {"is_repost": True}, False),
        ("python -is:retweet", {}, True),
        ("python has:media", {"has_media": True}, True),
        ("python has:media", {}, False),
        ("python -has:media", {"has_media": True}, False),
        ("python (has:media OR is:reply)", {"is_reply": True}, True),
        ("(python has:media) OR (django is:reply)", {"is_reply": True}, False),
    ],
)
def test_fact_operators_match_the_posts_facts(rule, facts, expected):
    assert compile_rule(rule).matches(text="I write Python", **facts) is expected


def test_fact_operators_still_need_the_words():
    assert not compile_rule("python lang:de").matches(text="Ich schreibe Rust", lang="de")


def test_matches_without_facts_keeps_working_for_word_rules():
    assert compile_rule("python -is:retweet").matches(text="python")
    assert compile_rule("python").matches(text="python", author_username="x")


@pytest.mark.parametrize(
    "rule",
    [
        "python lang:de",
        "#pycon -is:retweet",
        '"live wall" has:media',
        "@XDevelopers is:reply",
        "from:alice has:media",
        "python (has:media OR is:reply)",
        "(python has:media) OR (django lang:en)",
        "python -is:reply -is:retweet -has:media -lang:en",
    ],
)
def test_fact_operators_combined_with_a_standalone_term_validate(rule):
    validate_rule(rule)


@pytest.mark.parametrize(
    "rule",
    [
        "has:media",
        "lang:de",
        "is:reply is:retweet",
        "has:media OR is:retweet",
        "python OR has:media",  # an alternative with no standalone term
        "(has:media lang:de) OR python",
        "-is:retweet",
        "has:media -python",  # negated terms are not standalone either
    ],
)
def test_fact_operators_alone_are_refused_as_on_x(rule):
    with pytest.raises(RuleError, match="cannot match on their own"):
        validate_rule(rule)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("python is:repost", "Write 'is:retweet' for reposts"),
        ("python lang:", "Bad language"),
        ("python lang:EN", "Bad language"),
        ("python lang:english", "Bad language"),
        ("python lang:zh-tw", "Bad language"),
        ("python has:links", "'has:links' is not supported"),
        ("python is:verified", "'is:verified' is not supported"),
        ("python IS:reply", "Operator 'IS:' is not supported"),
    ],
)
def test_bad_fact_operators_name_the_problem(rule, message):
    with pytest.raises(RuleError) as err:
        validate_rule(rule)
    assert message in str(err.value)
