"""normalise_url / extract_urls: one page is one item, whatever way it was written."""

from __future__ import annotations

import pytest

from learnloop.domain.urls import MAX_URL_LENGTH, InvalidUrl, extract_urls, normalise_url

# --------------------------------------------------------------------------- scheme, host, port


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://wiki.example.com/Page", "https://wiki.example.com/Page"),
        ("Http://wiki.example.com/Page", "http://wiki.example.com/Page"),
        ("https://WIKI.Example.COM/Page", "https://wiki.example.com/Page"),
    ],
)
def test_scheme_and_host_are_lower_cased(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


def test_path_case_is_preserved() -> None:
    assert normalise_url("https://wiki.example.com/Onboarding/FAQ") == "https://wiki.example.com/Onboarding/FAQ"


def test_trailing_dot_on_host_is_dropped() -> None:
    assert normalise_url("https://wiki.example.com./Page") == "https://wiki.example.com/Page"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://wiki.example.com:80/Page", "http://wiki.example.com/Page"),
        ("https://wiki.example.com:443/Page", "https://wiki.example.com/Page"),
        ("https://wiki.example.com:/Page", "https://wiki.example.com/Page"),
    ],
)
def test_default_port_is_dropped(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://wiki.example.com:8443/Page", "https://wiki.example.com:8443/Page"),
        ("http://wiki.example.com:8080/Page", "http://wiki.example.com:8080/Page"),
        # 443 is only the default for https, 80 only for http
        ("http://wiki.example.com:443/Page", "http://wiki.example.com:443/Page"),
        ("https://wiki.example.com:80/Page", "https://wiki.example.com:80/Page"),
    ],
)
def test_non_default_port_is_kept(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://bücher.example/Seite", "https://xn--bcher-kva.example/Seite"),
        ("https://BÜCHER.example/Seite", "https://xn--bcher-kva.example/Seite"),
        ("https://xn--bcher-kva.example/Seite", "https://xn--bcher-kva.example/Seite"),
        ("https://münchen.example.de:8443/", "https://xn--mnchen-3ya.example.de:8443/"),
    ],
)
def test_internationalised_host_is_converted_to_punycode(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


def test_hosts_that_differ_by_sharp_s_stay_apart_as_in_idna2008() -> None:
    assert normalise_url("https://straße.de/Seite") == "https://xn--strae-oqa.de/Seite"
    assert normalise_url("https://STRASSE.de/Seite") == "https://strasse.de/Seite"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://☃.net/", "https://xn--n3h.net/"),
        ("https://a_b.bücher.example/", "https://a_b.xn--bcher-kva.example/"),
        ("https://intra_net.example/x", "https://intra_net.example/x"),
    ],
)
def test_host_idna2008_refuses_is_converted_as_idna2003_did(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://[::1]/wiki", "http://[::1]/wiki"),
        ("http://[2001:DB8::1]:8080/wiki", "http://[2001:db8::1]:8080/wiki"),
        ("https://[2001:db8::1]:443/wiki", "https://[2001:db8::1]/wiki"),
    ],
)
def test_ipv6_host_keeps_brackets_and_is_lower_cased(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


def test_ipv4_host_is_accepted() -> None:
    assert normalise_url("http://192.0.2.10:8080/wiki/") == "http://192.0.2.10:8080/wiki"


# --------------------------------------------------------------------------- path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://wiki.example.com/Page/", "https://wiki.example.com/Page"),
        ("https://wiki.example.com/Page///", "https://wiki.example.com/Page"),
        ("https://wiki.example.com/", "https://wiki.example.com/"),
        ("https://wiki.example.com", "https://wiki.example.com/"),
    ],
)
def test_trailing_slash_is_dropped_but_root_keeps_one(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


def test_duplicate_slashes_in_path_are_collapsed() -> None:
    assert normalise_url("https://wiki.example.com//spaces///Dev//Page") == "https://wiki.example.com/spaces/Dev/Page"


@pytest.mark.parametrize(
    "raw",
    [
        "https://wiki.example.com/Page#Installation",
        "https://wiki.example.com/Page#",
        "https://wiki.example.com/Page/#section-2",
    ],
)
def test_fragment_is_dropped(raw: str) -> None:
    assert normalise_url(raw) == "https://wiki.example.com/Page"


def test_fragment_is_dropped_but_query_is_kept() -> None:
    assert normalise_url("https://wiki.example.com/Page?id=7#top") == "https://wiki.example.com/Page?id=7"


# --------------------------------------------------------------------------- percent-encoding


@pytest.mark.parametrize(
    "raw",
    [
        "https://example.com/~alice/notes",
        "https://example.com/%7ealice/notes",
        "https://example.com/%7Ealice/notes",
    ],
)
def test_encoded_unreserved_characters_are_decoded(raw: str) -> None:
    assert normalise_url(raw) == "https://example.com/~alice/notes"


@pytest.mark.parametrize(
    "raw",
    [
        "https://example.com/caf%c3%a9",
        "https://example.com/caf%C3%A9",
        "https://example.com/café",
    ],
)
def test_non_ascii_path_is_percent_encoded_with_upper_case_hex(raw: str) -> None:
    assert normalise_url(raw) == "https://example.com/caf%C3%A9"


def test_encoded_space_in_path_stays_encoded() -> None:
    assert normalise_url("https://example.com/Team%20Handbook") == "https://example.com/Team%20Handbook"


@pytest.mark.parametrize(
    "raw",
    [
        "https://example.com/search?q=getting%20started",
        "https://example.com/search?q=getting+started",
    ],
)
def test_encoded_space_in_query_has_one_form(raw: str) -> None:
    assert normalise_url(raw) == "https://example.com/search?q=getting+started"


def test_encoded_reserved_character_in_query_value_stays_encoded() -> None:
    assert normalise_url("https://example.com/search?q=R%26D") == "https://example.com/search?q=R%26D"


def test_query_escapes_that_are_not_utf8_keep_their_bytes() -> None:
    latin1 = normalise_url("https://example.com/search?q=caf%E9")
    assert latin1 == "https://example.com/search?q=caf%E9"
    assert normalise_url("https://example.com/search?q=caf%E8") != latin1


@pytest.mark.parametrize("raw", ["https://example.com/p\ud800", "https://example.com/p?q=\udc80",
                                 "https://bu\udc80cher.example/"])
def test_url_with_a_lone_surrogate_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidUrl, match="lone surrogate"):
        normalise_url(raw)


def test_encoded_tilde_in_query_value_is_decoded() -> None:
    assert normalise_url("https://example.com/search?q=%7ealice") == "https://example.com/search?q=~alice"


def test_encoded_percent_sign_in_path_stays_encoded() -> None:
    assert normalise_url("https://example.com/100%25-coverage") == "https://example.com/100%25-coverage"


def test_encoded_percent_sign_followed_by_hex_is_idempotent() -> None:
    once = normalise_url("https://example.com/a%2541")
    assert normalise_url(once) == once == "https://example.com/a%2541"


def test_encoded_slash_in_path_is_not_decoded() -> None:
    assert normalise_url("https://gitlab.example.com/api/v4/projects/team%2Fwiki") != normalise_url(
        "https://gitlab.example.com/api/v4/projects/team/wiki"
    )


# --------------------------------------------------------------------------- query


@pytest.mark.parametrize(
    "tracking",
    [
        "utm_source=chat",
        "utm_medium=email",
        "utm_campaign=spring",
        "UTM_Content=x",
        "fbclid=IwAR0abc",
        "gclid=Cj0KCQ",
        "dclid=1",
        "msclkid=abc",
        "mc_cid=1",
        "mc_eid=2",
        "igshid=3",
        "_hsenc=4",
        "_hsmi=5",
        "yclid=6",
        "pk_campaign=7",
        "mtm_source=8",
    ],
)
def test_tracking_parameter_is_removed(tracking: str) -> None:
    assert normalise_url(f"https://example.com/Page?id=7&{tracking}") == "https://example.com/Page?id=7"


def test_query_with_only_tracking_parameters_leaves_no_question_mark() -> None:
    assert normalise_url("https://example.com/Page?utm_source=chat&fbclid=x") == "https://example.com/Page"


def test_other_parameters_are_kept_and_sorted() -> None:
    raw = "https://example.com/index.php?title=Main&action=view&utm_medium=chat&oldid=42"
    assert normalise_url(raw) == "https://example.com/index.php?action=view&oldid=42&title=Main"


def test_parameters_whose_names_only_resemble_tracking_ones_are_kept() -> None:
    assert normalise_url("https://example.com/p?utm=1&source=2") == "https://example.com/p?source=2&utm=1"


def test_repeated_parameter_keeps_every_value_sorted() -> None:
    assert normalise_url("https://example.com/p?tag=b&tag=a") == "https://example.com/p?tag=a&tag=b"


def test_parameter_without_value_is_kept() -> None:
    assert normalise_url("https://example.com/p?printable") == "https://example.com/p?printable="


def test_query_on_bare_host_gets_a_root_path() -> None:
    assert normalise_url("https://example.com?b=2&a=1") == "https://example.com/?a=1&b=2"


# --------------------------------------------------------------------------- wrapping and whitespace


@pytest.mark.parametrize(
    "raw",
    [
        "<https://wiki.example.com/Page>",
        "  https://wiki.example.com/Page  ",
        "\t<https://wiki.example.com/Page/>\n",
    ],
)
def test_angle_brackets_and_surrounding_whitespace_are_removed(raw: str) -> None:
    assert normalise_url(raw) == "https://wiki.example.com/Page"


# --------------------------------------------------------------------------- rejection


@pytest.mark.parametrize("raw", ["", "   ", "<>", None])
def test_empty_input_is_rejected_with_an_example(raw: str | None) -> None:
    with pytest.raises(InvalidUrl, match="a URL is needed, for example https://"):
        normalise_url(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    ["https://wiki.example.com/Team Handbook", "https://wiki .example.com/", "https://example.com/a\tb"],
)
def test_url_with_whitespace_inside_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidUrl, match="cannot contain spaces"):
        normalise_url(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://files.example.com/handbook.pdf",
        "javascript:alert(1)",
        "mailto:team@example.com",
        "file:///etc/passwd",
        "wiki.example.com/Page",
        "//wiki.example.com/Page",
    ],
)
def test_non_http_url_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidUrl, match="is not an http or https URL"):
        normalise_url(raw)


@pytest.mark.parametrize("raw", ["http://", "https:///Page", "http:wiki.example.com", "https://./Page"])
def test_url_without_host_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidUrl, match="has no host name"):
        normalise_url(raw)


@pytest.mark.parametrize("host", ["wi\x00ki.example.com", "wi\x1bki.example.com", "wiki\x7f.example.com",
                                  "wi!ki.example.com"])
def test_a_host_no_browser_would_send_is_refused_saying_so(host: str) -> None:
    with pytest.raises(InvalidUrl, match="is not a valid host name"):
        normalise_url(f"https://{host}/Page")


@pytest.mark.parametrize(
    "raw",
    [
        "https://alice:hunter2@wiki.example.com/Page",
        "https://alice@wiki.example.com/Page",
        "https://:hunter2@wiki.example.com/Page",
        "https://@wiki.example.com/Page",
    ],
)
def test_url_with_credentials_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidUrl, match="user name or password"):
        normalise_url(raw)


def test_credentials_are_not_repeated_in_the_error_message() -> None:
    with pytest.raises(InvalidUrl) as error:
        normalise_url("https://alice:hunter2@wiki.example.com/Page")
    assert "hunter2" not in str(error.value)


def test_url_longer_than_the_limit_is_rejected() -> None:
    prefix = "https://example.com/"
    raw = prefix + "a" * (MAX_URL_LENGTH + 1 - len(prefix))
    with pytest.raises(InvalidUrl, match=f"longer than {MAX_URL_LENGTH} characters"):
        normalise_url(raw)


def test_url_that_grows_past_the_limit_when_percent_encoded_is_rejected() -> None:
    raw = "https://ru.wikipedia.org/wiki/" + "Ж" * 400  # 430 characters; each Ж is %D0%96 once encoded
    with pytest.raises(InvalidUrl, match=f"2430 characters long once its special characters are percent-encoded; "
                                         f"at most {MAX_URL_LENGTH} fit"):
        normalise_url(raw)


def test_url_of_exactly_the_limit_once_percent_encoded_is_accepted() -> None:
    prefix = "https://ru.wikipedia.org/wiki/"
    raw = prefix + "Ж" * ((MAX_URL_LENGTH - len(prefix)) // 6) + "a" * ((MAX_URL_LENGTH - len(prefix)) % 6)
    assert len(normalise_url(raw)) == MAX_URL_LENGTH


def test_url_of_exactly_the_limit_is_accepted() -> None:
    prefix = "https://example.com/"
    raw = prefix + "a" * (MAX_URL_LENGTH - len(prefix))
    assert len(raw) == MAX_URL_LENGTH
    assert normalise_url(raw) == raw


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("https://wiki.example.com:99999/Page", "Port out of range"),
        ("https://wiki.example.com:https/Page", "Port could not be cast"),
        ("https://wiki.example.com:-1/Page", "Port could not be cast"),
    ],
)
def test_bad_port_is_rejected(raw: str, detail: str) -> None:
    with pytest.raises(InvalidUrl, match="is not a valid URL") as error:
        normalise_url(raw)
    assert detail in str(error.value)


def test_malformed_ipv6_host_is_rejected() -> None:
    with pytest.raises(InvalidUrl, match="is not a valid URL"):
        normalise_url("http://[::1/wiki")


def test_host_with_an_over_long_label_is_rejected() -> None:
    with pytest.raises(InvalidUrl, match="is not a valid host name"):
        normalise_url("https://" + "a" * 64 + ".example.com/")


def test_invalid_url_is_a_value_error() -> None:
    assert issubclass(InvalidUrl, ValueError)


# --------------------------------------------------------------------------- idempotence

IDEMPOTENCE_TABLE = [
    "https://wiki.example.com/Page",
    "HTTPS://Wiki.Example.com:443/Page/",
    "http://wiki.example.com:80//a//b/",
    "http://wiki.example.com:8080/a",
    "https://wiki.example.com/Page#Heading",
    "https://wiki.example.com/?utm_source=chat&b=2&a=1",
    "https://example.com/%7ealice",
    "https://example.com/caf%c3%a9",
    "https://example.com/café",
    "https://example.com/Team%20Handbook",
    "https://example.com/search?q=getting%20started",
    "https://example.com/search?q=R%26D&lang=en",
    "https://bücher.example/Seite",
    "https://straße.de/Seite",
    "https://example.com/search?q=caf%E9&x=%FF%FE",
    "http://[2001:DB8::1]:8080/wiki",
    "http://[::1]/",
    "<https://wiki.example.com/Page>",
    "https://example.com/p?printable",
    "https://example.com/p?tag=b&tag=a",
    "https://example.com/index.php?title=Main_Page&action=history",
    "https://wiki.example.com./x;y=1",
    "https://example.com/a(b)c",
]


@pytest.mark.parametrize("raw", IDEMPOTENCE_TABLE)
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = normalise_url(raw)
    assert normalise_url(once) == once


# --------------------------------------------------------------------------- extract_urls


def test_extract_from_markdown_link() -> None:
    text = "Have a look at [the onboarding guide](https://wiki.example.com/Onboarding?utm_source=chat) first"
    assert extract_urls(text) == ["https://wiki.example.com/Onboarding"]


def test_extract_from_markdown_link_whose_text_is_also_the_url() -> None:
    text = "[https://wiki.example.com/Page](https://wiki.example.com/Page)"
    assert extract_urls(text) == ["https://wiki.example.com/Page"]


def test_extract_from_angle_bracket_autolink() -> None:
    assert extract_urls("see <https://wiki.example.com/Page> for details") == ["https://wiki.example.com/Page"]


@pytest.mark.parametrize(
    "text",
    [
        "Read https://wiki.example.com/Page.",
        "Read https://wiki.example.com/Page, then ask",
        "Is it https://wiki.example.com/Page?",
        "Look: https://wiki.example.com/Page!",
        "Read https://wiki.example.com/Page...",
        "Read https://wiki.example.com/Page;",
        "Read https://wiki.example.com/Page:",
        "(https://wiki.example.com/Page)",
        '"https://wiki.example.com/Page"',
        "'https://wiki.example.com/Page'",
        "`https://wiki.example.com/Page`",
        "**https://wiki.example.com/Page**",
        "_https://wiki.example.com/Page_",
        "~~https://wiki.example.com/Page~~",
    ],
)
def test_extract_ignores_surrounding_punctuation_and_markup(text: str) -> None:
    assert extract_urls(text) == ["https://wiki.example.com/Page"]


def test_extract_keeps_order_of_appearance() -> None:
    text = "First https://b.example.com/2 then https://a.example.com/1\nand finally https://c.example.com/3"
    assert extract_urls(text) == [
        "https://b.example.com/2",
        "https://a.example.com/1",
        "https://c.example.com/3",
    ]


def test_extract_removes_duplicates_after_normalisation() -> None:
    text = (
        "https://wiki.example.com/Page#one, also <HTTPS://Wiki.Example.com/Page/> "
        "and [again](https://wiki.example.com/Page?utm_medium=chat)"
    )
    assert extract_urls(text) == ["https://wiki.example.com/Page"]


def test_extract_keeps_urls_that_differ_after_normalisation() -> None:
    text = "https://wiki.example.com/Page?id=1 https://wiki.example.com/Page?id=2"
    assert extract_urls(text) == ["https://wiki.example.com/Page?id=1", "https://wiki.example.com/Page?id=2"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "no links here, just plain words",
        "www.example.com has no scheme",
        "ftp://files.example.com/handbook.pdf is not http",
        "mailto:team@example.com",
        "an unfinished http:// link",
    ],
)
def test_extract_finds_nothing_in_text_without_http_urls(text: str | None) -> None:
    assert extract_urls(text) == []  # type: ignore[arg-type]


def test_extract_skips_invalid_urls_and_keeps_the_valid_ones() -> None:
    text = "broken http:// and https://alice:pw@example.com/x but https://ok.example.com works"
    assert extract_urls(text) == ["https://ok.example.com/"]


def test_extract_skips_a_url_too_long_once_percent_encoded_and_keeps_the_others() -> None:
    text = "see https://example.com/ok and https://ru.wikipedia.org/wiki/" + "Ж" * 400
    assert extract_urls(text) == ["https://example.com/ok"]


def test_extract_matches_scheme_case_insensitively() -> None:
    assert extract_urls("HTTPS://WIKI.EXAMPLE.COM/Page") == ["https://wiki.example.com/Page"]


def test_extract_normalises_idn_host() -> None:
    assert extract_urls("siehe https://bücher.example/Seite.") == ["https://xn--bcher-kva.example/Seite"]


def test_extract_url_glued_to_a_label() -> None:
    assert extract_urls("Link:https://wiki.example.com/Page") == ["https://wiki.example.com/Page"]


def test_extract_keeps_balanced_parentheses_in_a_url() -> None:
    text = "see https://en.wikipedia.org/wiki/Python_(programming_language) for background"
    assert extract_urls(text) == ["https://en.wikipedia.org/wiki/Python_(programming_language)"]


def test_padding_around_a_url_is_not_remembered() -> None:
    """Only the stripped text reaches the cache of worked-out URLs, so padding cannot fill memory."""
    from learnloop.domain.urls import _normalised

    _normalised.cache_clear()
    padded = " " * 1_000_000 + "<https://wiki.acme.example/wiki/Deploying>" + "\n" * 1_000_000
    assert normalise_url(padded) == "https://wiki.acme.example/wiki/Deploying"
    assert normalise_url("https://wiki.acme.example/wiki/Deploying") == "https://wiki.acme.example/wiki/Deploying"
    info = _normalised.cache_info()
    assert (info.currsize, info.hits) == (1, 1), "both calls worked out the same stripped text once"
