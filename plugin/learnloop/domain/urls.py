"""One page is one item: URLs are normalised before they are stored or looked up."""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import idna

MAX_URL_LENGTH = 2048

_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "_hsenc", "_hsmi", "yclid"}
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAFE_PATH_CHARS = "/:@!$&'()*+,;=-._~%"
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_WHITESPACE = re.compile(r"\s")  # str.isspace's characters
_REPEATED_SLASHES = re.compile(r"/{2,}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_HOST = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+")
"""A host name as DNS knows it (after IDNA) or an IPv6 address: nothing a browser would not send, such as a
control character (which PostgreSQL's text refuses, if it is NUL)."""


class InvalidUrl(ValueError):
    """The text is not an http(s) URL that can name a piece of content."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def _normalise_escape(match: re.Match[str]) -> str:
    """RFC 3986 §6.2.2: decode only unreserved characters; other escapes keep their meaning."""
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _normalise_path(path: str) -> str:
    path = _STRAY_PERCENT.sub("%25", path)
    path = quote(path, safe=_SAFE_PATH_CHARS)
    path = _PERCENT_ESCAPE.sub(_normalise_escape, path)
    path = _REPEATED_SLASHES.sub("/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    return path or "/"


def _ascii_host(host: str) -> str:
    """The host as DNS knows it, lower-cased. A non-ASCII name is converted as browsers do (IDNA2008 with
    UTS #46, non-transitional: straße.de stays apart from strasse.de); one that IDNA2008 refuses but IDNA2003
    took (a symbol, as in ☃.net, or an underscore beside non-ASCII), and every ASCII name, as IDNA2003 does."""
    if not host.isascii():
        try:
            return idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError:
            pass
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidUrl(f"'{host[:80]}' is not a valid host name") from None


def normalise_url(raw: str) -> str:
    """Canonical form of an http(s) URL.

    Lower-cases scheme and host, drops default ports, fragments, trailing slashes and
    tracking parameters (utm_*, fbclid, ...), and sorts the remaining query parameters.
    """
    text = (raw or "").strip().strip("<>")
    if not text:
        raise InvalidUrl("a URL is needed, for example https://wiki.example.com/Onboarding")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if _SURROGATE.search(text):
        raise InvalidUrl("the URL contains a lone surrogate, which is not valid Unicode text")
    return _normalised(text)


@functools.lru_cache(maxsize=4096)
def _normalised(text: str) -> str:
    """Remembered for the last 4,096 texts (errors are not): the same few links are rated, shared and
    mentioned over and over. Only
    stripped texts of at most MAX_URL_LENGTH characters get here, and only URLs of at most that length are
    kept, so the cache stays under 10 MB."""
    if _WHITESPACE.search(text):
        raise InvalidUrl("a URL cannot contain spaces")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"'{text[:80]}' is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidUrl(f"'{text[:80]}' is not an http or https URL, for example https://wiki.example.com/Page")
    if parts.username is not None or parts.password is not None:
        raise InvalidUrl("URLs with a user name or password in them are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidUrl(f"'{text[:80]}' has no host name")
    host = _ascii_host(host)
    if not _HOST.fullmatch(host):
        raise InvalidUrl(f"{host[:80]!r} is not a valid host name")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True, errors="surrogateescape")
        if not _is_tracking(name)
    )
    url = urlunsplit((scheme, netloc, _normalise_path(parts.path), urlencode(query, errors="surrogateescape"), ""))
    if len(url) > MAX_URL_LENGTH:  # percent-encoding makes each non-ASCII character up to 12 characters
        raise InvalidUrl(f"the URL is {len(url)} characters long once its special characters are percent-encoded; "
                         f"at most {MAX_URL_LENGTH} fit")
    return url


_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`\]]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?*_~"


def _trim_unbalanced_parentheses(candidate: str) -> str:
    """Keep `Python_(language)` whole but drop the `)` that closes a Markdown link `[x](url)`."""
    while candidate.endswith(")") and candidate.count(")") > candidate.count("("):
        candidate = candidate[:-1].rstrip(_TRAILING_PUNCTUATION)
    return candidate


def extract_urls(text: str) -> list[str]:
    """Normalised, de-duplicated URLs found in a chat message, in order of appearance."""
    found: list[str] = []
    for match in _URL_IN_TEXT.finditer(text or ""):
        candidate = _trim_unbalanced_parentheses(match.group(0).rstrip(_TRAILING_PUNCTUATION))
        try:
            url = normalise_url(candidate)
        except InvalidUrl:
            continue
        if url not in found:
            found.append(url)
    return found
