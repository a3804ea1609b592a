"""`--rules pii`: redact e-mail addresses, IP addresses, keys, tokens and passwords (The Stack's
practice; bigcode-dataset/pii), replacing each with a fixed placeholder. A transform, not a rule:
no row is dropped, so `rows in = kept + rejected` is untouched (docs/filter.md#pii).

What is found, per file (a `files` row, or each file of a repository-level sample: a sample's
path header lines are never scanned, so it stays a valid topo-sort sample):

* keys, tokens and passwords: the token-format plugins of detect-secrets (pinned in pyproject.toml)
  and its KeywordDetector (`password = "..."`), with its heuristic false-positive filters, plus a
  few regexes it lacks (PEM private-key bodies, GitHub fine-grained tokens, Google API keys,
  Hugging Face tokens). A plugin only sees the lines that hold its *trigger* (literals or
  literal-led regexes, a necessary condition of its own regexes; tests/stages/filter/test_pii.py
  checks them): that is what makes this ~60x faster than detect-secrets' own per-file scan, with
  the same findings (`make bench`);
* e-mail addresses, except reserved example domains (RFC 2606/6761) and `git@host` remotes;
* IP addresses whose `ipaddress` value is global unicast, except well-known public DNS resolvers
  (bigcode's list) and dotted quads that are version numbers.

Placeholders: `<EMAIL>`, `<IP_ADDRESS>`, `<KEY>`, `<PASSWORD>` (bigcode's tags). Counters:
`pii:<kind>` (spans redacted), `pii_rows` (rows changed), `pii_kept:<reason>` (found but kept on
purpose), `pii_licence_header_emails` (e-mails on a licence/copyright line at a file's top).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version

import pyarrow as pa

from stages.core.languages import detect_language
from stages.core.sample_text import path_comment, split_sample

from .config import PII_KINDS, PiiConfig

VERSION = 1  # bump when what is found or how it is replaced changes
PLACEHOLDER = {"email": "<EMAIL>", "ip_address": "<IP_ADDRESS>", "key": "<KEY>", "password": "<PASSWORD>"}
# Overlapping finds: the earlier kind here wins (`https://user:pw@host.com`: a password, not an e-mail).
_PRIORITY = {"password": 0, "key": 1, "email": 2, "ip_address": 3}


@dataclass(frozen=True)
class Redaction:
    """One span of a row's text replaced by PLACEHOLDER[kind]; `value` is the original text."""

    start: int
    end: int
    kind: str
    detector: str  # the detect-secrets plugin or our regex that found it
    value: str


# -- keys, tokens, passwords: detect-secrets ------------------------------------------------------

@dataclass(frozen=True)
class Trigger:
    """What every line a plugin can report contains: a match of one of `regexes` (each starts with
    a literal, so `re` finds it at GB/s) or one of the literals `ci` in the lower-cased text; and,
    if given, a match of `line_also` (checked on those lines only)."""

    regexes: tuple[str, ...] = ()
    ci: tuple[str, ...] = ()
    line_also: str | None = None


# Cloudant, IBM and SoftLayer secrets are all a run of 24+ such characters (64 hex, 24 letters,
# 44 or 48 characters), after a key|pw|pass|token keyword or in a cloudant/softlayer URL.
_LONG_RUN = r"[A-Za-z0-9_-]{24}"

# The detect-secrets plugins used, the kind each finds and its trigger, derived from the plugins'
# own regexes in detect-secrets 1.5.0 (tests/stages/filter/test_pii.py checks each on real files).
# Left out: PrivateKeyDetector (it reports the `BEGIN ... PRIVATE KEY` line, not the key: the PEM
# regex below redacts the body), IPPublicDetector (IPs are ours, with documented exceptions) and,
# unless `high_entropy`, the entropy plugins (on code: hashes and test vectors, docs/filter.md#pii).
SECRET_PLUGINS: dict[str, tuple[str, Trigger]] = {
    "AWSKeyDetector": ("key", Trigger(regexes=(r"A(?:3T|BIA|CCA|KIA|SIA)",), ci=("aws",))),
    "ArtifactoryDetector": ("key", Trigger(regexes=(r"AKC[a-zA-Z0-9]{10}", r"AP[\dABCDEF][a-zA-Z0-9]{8}"))),
    "AzureStorageKeyDetector": ("key", Trigger(regexes=(r"AccountKey=",))),
    "BasicAuthDetector": ("password", Trigger(regexes=(r"://",))),
    "CloudantDetector": ("key", Trigger(ci=("key", "pw", "pass", "token", "cloudant"), line_also=_LONG_RUN)),
    "DiscordBotTokenDetector": ("key", Trigger(regexes=(r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}",))),
    "GitHubTokenDetector": ("key", Trigger(regexes=(r"gh[pousr]_",))),
    "GitLabTokenDetector": ("key", Trigger(regexes=(r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-",
                                                    r"GR1348941"))),
    "IbmCloudIamDetector": ("key", Trigger(ci=("key", "pwd", "pass", "token"), line_also=_LONG_RUN)),
    "IbmCosHmacDetector": ("key", Trigger(ci=("key",), line_also=_LONG_RUN)),
    "JwtTokenDetector": ("key", Trigger(regexes=(r"eyJ",))),
    "KeywordDetector": ("keyword", Trigger(ci=("key", "pass", "pwd", "secret", "contrase"))),
    "MailchimpDetector": ("key", Trigger(regexes=(r"-us\d",))),
    "NpmDetector": ("key", Trigger(regexes=(r"/:_authToken=",))),
    "OpenAIDetector": ("key", Trigger(regexes=(r"T3BlbkFJ",))),
    "PypiTokenDetector": ("key", Trigger(regexes=(r"pypi-AgE",))),
    "SendGridDetector": ("key", Trigger(regexes=(r"SG\.",))),
    "SlackDetector": ("key", Trigger(ci=("xox", "hooks.slack.com"))),
    "SoftlayerDetector": ("key", Trigger(ci=("key", "pwd", "pass", "token", "softlayer"), line_also=_LONG_RUN)),
    "SquareOAuthDetector": ("key", Trigger(regexes=(r"sq0csp-",))),
    "StripeDetector": ("key", Trigger(regexes=(r"k_live_",))),
    "TelegramBotTokenDetector": ("key", Trigger(regexes=(r":[0-9A-Za-z_-]{35}",))),
    "TwilioKeyDetector": ("key", Trigger(regexes=(r"AC[a-z0-9]{32}", r"SK[a-z0-9]{32}"))),
}
# detect-secrets 1.5.0's GitHub and GitLab regexes capture a part of the token (`(ghp|gho|...)_`), so
# the value it reports is that part; for these plain-regex plugins the secret is the whole match.
_WHOLE_MATCH = frozenset({"GitHubTokenDetector", "GitLabTokenDetector"})
# Its JWT regex ends lazily (`\.?[...]*?`): it reports header.payload, the signature is ours to add.
_JWT_SIGNATURE = re.compile(r"\.?[A-Za-z0-9_+/=-]*")
# detect-secrets' defaults for these two (its `scan --base64-limit/--hex-limit`).
HIGH_ENTROPY_PLUGINS = {"Base64HighEntropyString": 4.5, "HexHighEntropyString": 3.0}

# Keyword secrets whose keyword names a password get <PASSWORD>; the others (secret, api_key) <KEY>.
_PASSWORD_WORD = re.compile(r"pass|pwd|contrase", re.IGNORECASE)
# Keyword "secrets" that are settings, not secrets (`'MODULE_PWD_STATE': 'yes'` in sysconfigdata).
_NOT_SECRETS = frozenset({"yes", "no", "true", "false", "none", "null", "nil", "on", "off", "enabled", "disabled"})

# Regexes for what detect-secrets 1.5.0 does not know (the usual ones of secret scanners).
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY((?: BLOCK)?)-----(.+?)-----END \1PRIVATE KEY\2-----", re.DOTALL)
_EXTRA_KEYS = {
    "regex:github_fine_grained_token": re.compile(r"github_pat_[0-9A-Za-z]{22}_[0-9A-Za-z]{59}(?![0-9A-Za-z_])"),
    "regex:google_api_key": re.compile(r"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    "regex:huggingface_token": re.compile(r"hf_(?<![0-9A-Za-z_]hf_)[A-Za-z]{34}(?![0-9A-Za-z_])"),
}


def _plugin_classes() -> dict[str, type]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    return {cls.__name__: cls for cls in get_mapping_from_secret_type_to_class().values()}


def _secret_filters():
    """detect-secrets' default heuristic filters that judge a secret or its line (not the file):
    each is called with the subset of (secret, line, plugin) it declares."""
    from detect_secrets.filters import heuristic as h
    return (h.is_sequential_string, h.is_potential_uuid, h.is_templated_secret, h.is_prefixed_with_dollar_sign,
            h.is_not_alphanumeric_string), (h.is_indirect_reference,), h.is_likely_id_string


# -- e-mail addresses -------------------------------------------------------------------------------

# Starts at the literal `@` (so `re` scans at GB/s); the local part is matched backwards from it.
_EMAIL_DOMAIN = re.compile(r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w-])")
_EMAIL_LOCAL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?\Z")
# RFC 2606 / RFC 6761 names reserved for documentation and tests: nobody's address.
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org", "localhost")
_EXAMPLE_TLDS = (".example", ".test", ".invalid", ".localhost")
# A licence/copyright/authorship line near the top of a file.
_LICENCE_LINE = re.compile(r"copyright|\(c\)|©|licen[cs]|spdx|author|maintainer|written by|contributed by|"
                           r"contributors?\b|__email__", re.IGNORECASE)


def _is_example_domain(domain: str) -> bool:
    d = domain.lower()
    return d in _EXAMPLE_DOMAINS or d.endswith(_EXAMPLE_TLDS) or d.endswith(tuple("." + e for e in _EXAMPLE_DOMAINS))


# -- IP addresses -----------------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_TRIGGER = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")  # literal start: fast
# Not inside a longer dotted or dashed token (1.2.3.4.5, an OID, pkg-1.2.3.4, v1.2.3.4, a.b.1.2.3.4).
_IPV4 = re.compile(rf"(?<![\w.-]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w-]|\.\w)")
_IPV6_TRIGGER = re.compile(r":[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")  # full form; `::` apart
# A maximal run of hex digits, colons and dots (possessive: no backtracking), validated by `ipaddress`.
_IPV6 = re.compile(r"(?<![\w:.%])[0-9A-Fa-f:.]++(?![\w:%])")
# Infrastructure constants, not anybody's host (bigcode's POPULAR_DNS_SERVERS).
PUBLIC_RESOLVERS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "76.76.19.19", "76.223.122.150", "9.9.9.9", "149.112.112.112",
    "208.67.222.222", "208.67.220.220", "8.26.56.26", "8.20.247.20", "94.140.14.14", "94.140.15.15",
    "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111", "2606:4700:4700::1001"})
# A dotted quad of small numbers is a version unless its line talks about addresses (ip_verdict).
_ADDRESS_WORD = re.compile(r"\bip|addr|host|server|dns|inet|bind|connect|proxy|gateway|route|subnet|socket|"
                           r"listen|ping|url|http", re.IGNORECASE)
_VERSION_WORD = re.compile(r"version|release", re.IGNORECASE)


def ip_verdict(value: str, line: str, line_has_address: bool = False) -> str:
    """"redact", or why an address-shaped string on `line` is kept: "special_ip" (not global:
    documentation, private, loopback, link-local, shared, reserved; or multicast),
    "public_resolver", "version_number"; or "not_an_ip". `line_has_address`: another address on
    the line is redacted (then small numbers are an address too: `['1.2.3.0/26', '1.2.3.64/26']`)."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return "not_an_ip"
    if not ip.is_global or ip.is_multicast:
        return "special_ip"
    if ip.compressed in PUBLIC_RESOLVERS:
        return "public_resolver"
    if ip.version == 4:
        if _VERSION_WORD.search(line):
            return "version_number"
        # 7.1.4.34 (AIX), 8.2.4.44 (an HTML spec section): all four numbers below 64 happens to
        # 0.4% of random public addresses and to nearly every version or section number.
        if max(ip.packed) < 64 and not line_has_address and not _ADDRESS_WORD.search(line):
            return "version_number"
    return "redact"


# -- the scanner ------------------------------------------------------------------------------------

def _line_at(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _lines_with(text: str, literal: str) -> set[int]:
    """Start offsets of the lines of `text` containing `literal`."""
    starts = set()
    i = text.find(literal)
    while i >= 0:
        start, end = _line_at(text, i)
        starts.add(start)
        i = text.find(literal, end)
    return starts


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _occurrences(line: str, value: str) -> list[int]:
    """Where a found `value` stands in `line`: as a token of its own where it is one (in
    `password = 'pass'` the quoted `pass`, not the start of `password`), else everywhere."""
    bounded, anywhere = [], []
    i = line.find(value)
    while i >= 0:
        j = i + len(value)
        anywhere.append(i)
        if not ((i > 0 and _is_word(line[i - 1]) and _is_word(value[0]))
                or (j < len(line) and _is_word(line[j]) and _is_word(value[-1]))):
            bounded.append(i)
        i = line.find(value, j)
    return bounded or anywhere


class PiiScanner:
    """Finds the redactions of one text (a file, or a sample's files) for a PiiConfig.

    Holds the detect-secrets plugin objects; build once per process (`scanner_for`).
    """

    def __init__(self, config: PiiConfig):
        self.config = config
        self.kinds = frozenset(config.kinds)
        classes = _plugin_classes()
        self.plugins: list[tuple[str, str, Trigger, object]] = []
        if self.kinds & {"key", "password"}:
            for name, (kind, trigger) in SECRET_PLUGINS.items():
                self.plugins.append((name, kind, trigger, classes[name]()))
            if config.high_entropy:
                for name, limit in HIGH_ENTROPY_PLUGINS.items():
                    plugin = classes[name](limit=limit)
                    self.plugins.append((name, "key", Trigger(regexes=(plugin.regex.pattern,)), plugin))
        self._compiled = {r: re.compile(r) for _, _, t, _ in self.plugins for r in (*t.regexes, t.line_also) if r}
        self._secret_only, self._line_only, self._id_filter = _secret_filters()

    def params(self) -> dict:
        """What decides the output: recorded in the manifest (a change refuses a resume)."""
        plugins = [name for name, *_ in self.plugins]
        return {"version": VERSION, "kinds": sorted(self.kinds), "licence_emails": self.config.licence_emails,
                "header_lines": self.config.header_lines, "high_entropy": self.config.high_entropy,
                "detect_secrets": version("detect-secrets"), "plugins": plugins, "regexes": sorted(_EXTRA_KEYS),
                "placeholders": {k: PLACEHOLDER[k] for k in sorted(self.kinds)}}

    # -- one file ----------------------------------------------------------------------------------

    def scan_file(self, text: str, path: str, offset: int = 0) -> tuple[list[Redaction], Counter]:
        """Redactions in one file's text (offsets + `offset`) and notes: `kept:<reason>` for what was
        found and kept on purpose, `licence_header_emails`."""
        found: list[Redaction] = []
        notes: Counter = Counter()
        if "email" in self.kinds:
            self._emails(text, offset, found, notes)
        if "ip_address" in self.kinds:
            self._ips(text, offset, found, notes)
        if self.kinds & {"key", "password"}:
            self._secrets(text, path, offset, found)
        return found, notes

    def _emails(self, text: str, offset: int, found: list, notes: Counter) -> None:
        header_end = -1
        for m in _EMAIL_DOMAIN.finditer(text):
            at = m.start()
            local = _EMAIL_LOCAL.search(text, max(0, at - 64), at)
            if local is None:
                continue
            start, end, domain = local.start(), m.end(), m.group(1)
            if _is_example_domain(domain):
                notes["kept:example_domain"] += 1
                continue
            if local.group() == "git":  # git@github.com:owner/repo.git is an SSH remote
                notes["kept:git_remote"] += 1
                continue
            if header_end < 0:
                header_end = _nth_line_end(text, self.config.header_lines)
            line_start, line_end = _line_at(text, start)
            if start < header_end and _LICENCE_LINE.search(text, line_start, line_end):
                notes["licence_header_emails"] += 1
                if self.config.licence_emails == "keep":
                    notes["kept:licence_header_email"] += 1
                    continue
            found.append(Redaction(offset + start, offset + end, "email", "regex:email", text[start:end]))

    def _ips(self, text: str, offset: int, found: list, notes: Counter) -> None:
        v4 = {_line_at(text, m.start()) for m in _IPV4_TRIGGER.finditer(text)}
        v6 = {_line_at(text, m.start()) for m in _IPV6_TRIGGER.finditer(text)}
        v6 |= {_line_at(text, start) for start in _lines_with(text, "::")}
        for regex, candidates, family in ((_IPV4, v4, 4), (_IPV6, v6, 6)):
            for line_start, line_end in sorted(candidates):
                line = text[line_start:line_end]
                values = []
                for m in regex.finditer(line):
                    value = m.group()
                    if family == 6:
                        value = value.rstrip(".")
                        # x[1::2], a::b, rst's `::`: too few groups to be an address we would redact
                        if len(value) > 45 or sum(1 for g in value.split(":") if g) < 3:
                            continue
                    values.append((m.start(), value))
                verdicts = [ip_verdict(value, line) for _, value in values]
                if "redact" in verdicts:  # then the line is about addresses: decide again
                    verdicts = [ip_verdict(value, line, True) for _, value in values]
                for (start, value), verdict in zip(values, verdicts):
                    if verdict == "not_an_ip":
                        continue
                    if verdict != "redact":
                        notes[f"kept:{verdict}"] += 1
                        continue
                    s = offset + line_start + start
                    found.append(Redaction(s, s + len(value), "ip_address", f"regex:ipv{family}", value))

    def _candidate_lines(self, text: str, trigger: Trigger, cache: dict, lower: str | None) -> list[int]:
        """Start offsets, in order, of the lines of `text` a plugin with `trigger` must see."""
        starts: set[int] = set()
        for regex in trigger.regexes:
            if regex not in cache:
                cache[regex] = {_line_at(text, m.start())[0] for m in self._compiled[regex].finditer(text)}
            starts |= cache[regex]
        for lit in trigger.ci:
            if ("ci", lit) not in cache:
                if lower is not None:
                    cache["ci", lit] = _lines_with(lower, lit)
                else:  # lower() changed the length (a few Unicode letters): match case-insensitively
                    pattern = re.compile(re.escape(lit), re.IGNORECASE)
                    cache["ci", lit] = {_line_at(text, m.start())[0] for m in pattern.finditer(text)}
            starts |= cache["ci", lit]
        if trigger.line_also:
            also = self._compiled[trigger.line_also]
            starts = {s for s in starts if also.search(text, s, _line_at(text, s)[1])}
        return sorted(starts)

    def _secrets(self, text: str, path: str, offset: int, found: list) -> None:
        kinds = self.kinds
        for m in _PEM_PRIVATE_KEY.finditer(text):
            if "key" in kinds and m.group(3).strip() not in ("", PLACEHOLDER["key"]):
                body_start, body_end = m.span(3)
                found.append(Redaction(offset + body_start, offset + body_end, "key", "regex:pem_private_key",
                                       m.group(3)))
        for name, regex in _EXTRA_KEYS.items():
            if "key" in kinds:
                for m in regex.finditer(text):
                    found.append(Redaction(offset + m.start(), offset + m.end(), "key", name, m.group()))
        lower = text.lower()
        lower = lower if len(lower) == len(text) else None
        cache: dict = {}
        for name, kind, trigger, plugin in self.plugins:
            for line_start in self._candidate_lines(text, trigger, cache, lower):
                line_end = text.find("\n", line_start)
                line = text[line_start:len(text) if line_end < 0 else line_end].rstrip()
                if name in _WHOLE_MATCH:
                    values = [m.group() for regex in plugin.denylist for m in regex.finditer(line)]
                else:
                    values = [secret.secret_value for secret in plugin.analyze_line(filename=path, line=line)]
                for value in values:
                    if name == "ArtifactoryDetector":  # its regex includes the delimiters around the token
                        value = value.strip(" \t\"=:")
                    if not value or self._filtered(value, line, plugin):
                        continue
                    if kind == "keyword" and value.lower() in _NOT_SECRETS:
                        continue
                    for i in _occurrences(line, value):
                        k = kind
                        if kind == "keyword":  # the keyword may follow the value ("x" == password)
                            k = "password" if _PASSWORD_WORD.search(line[:i] + " " + line[i + len(value):]) else "key"
                        if k in kinds:
                            j = i + len(value)
                            if name == "JwtTokenDetector" and (sig := _JWT_SIGNATURE.match(line, j)):
                                j = sig.end()
                            s = offset + line_start + i
                            found.append(Redaction(s, s + j - i, k, name, line[i:j]))

    def _filtered(self, secret: str, line: str, plugin) -> bool:
        """detect-secrets' default heuristics (scan.py's filters with a secret or a line)."""
        return (any(f(secret) for f in self._secret_only) or any(f(line) for f in self._line_only)
                or self._id_filter(secret, line, plugin))

    # -- a row -------------------------------------------------------------------------------------

    def scan_row(self, text: str, paths: list[str] | None, sample: bool) -> tuple[list[Redaction], Counter]:
        """Non-overlapping redactions of a row in text order, and the notes of its files.

        `paths`: the row's path (a `files` row) or its files' paths (a sample, `sample=True`: each
        file scanned alone, its path header line never), or None.
        """
        found: list[Redaction] = []
        notes: Counter = Counter()
        segments = file_segments(text, paths) if sample else [(0, len(text), (paths or [""])[0] or "")]
        for start, end, path in segments:
            f, n = self.scan_file(text[start:end], path, start)
            found += f
            notes += n
        return resolve_overlaps(found, len(text)), notes


def _nth_line_end(text: str, n: int) -> int:
    """Offset just past the n-th line (the whole text if shorter)."""
    pos = 0
    for _ in range(n):
        pos = text.find("\n", pos)
        if pos < 0:
            return len(text)
        pos += 1
    return pos


def file_segments(text: str, paths: list[str] | None) -> list[tuple[int, int, str]]:
    """(start, end, path) of each file's content in a sample's text, path header lines excluded.

    Cut where topo-sort's `split_sample` cuts; a sample that does not split that way (not built
    by topo-sort) is cut around every line equal to one of its paths' header lines, so header
    lines are never scanned either way.
    """
    if not paths:
        return [(0, len(text), "")]
    headers = [path_comment(p, detect_language(p)) for p in paths]
    try:
        contents = split_sample(text, paths)
    except ValueError:
        return _segments_around_headers(text, {h for h in headers if h})
    segments, pos = [], 0
    for path, header, content in zip(paths, headers, contents):
        if header and text.startswith(header + "\n", pos):
            pos += len(header) + 1
        if not text.startswith(content, pos):
            return _segments_around_headers(text, {h for h in headers if h})
        segments.append((pos, pos + len(content), path))
        pos += len(content) + 1  # the blank line between files
    return segments


def _segments_around_headers(text: str, headers: set[str]) -> list[tuple[int, int, str]]:
    segments, start, pos = [], 0, 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if text[pos:end] in headers:
            if pos > start:
                segments.append((start, pos, ""))
            start = end + 1
        pos = end + 1
    if len(text) > start:
        segments.append((start, len(text), ""))
    return segments


def resolve_overlaps(found: list[Redaction], length: int) -> list[Redaction]:
    """A non-overlapping subset in text order: by kind priority (password, key, e-mail, IP), then
    the longest, then the earliest. Deterministic."""
    if len(found) < 2:
        return found
    taken = bytearray(length)
    chosen = []
    for r in sorted(set(found), key=lambda r: (_PRIORITY[r.kind], r.start - r.end, r.start, r.detector)):
        if not any(taken[r.start:r.end]):
            taken[r.start:r.end] = b"\x01" * (r.end - r.start)
            chosen.append(r)
    return sorted(chosen, key=lambda r: r.start)


def redact_text(text: str, redactions: list[Redaction]) -> str:
    """`text` with each (non-overlapping, ordered) redaction replaced by its placeholder."""
    parts, pos = [], 0
    for r in redactions:
        parts.append(text[pos:r.start])
        parts.append(PLACEHOLDER[r.kind])
        pos = r.end
    parts.append(text[pos:])
    return "".join(parts)


@functools.lru_cache(maxsize=4)
def scanner_for(config: PiiConfig) -> PiiScanner:
    return PiiScanner(config)


def _row_paths(table: pa.Table) -> list[list[str] | None]:
    if "paths" in table.column_names:
        return table["paths"].to_pylist()
    if "path" in table.column_names:
        return [[p] if p is not None else None for p in table["path"].to_pylist()]
    return [None] * table.num_rows


def redact_table(table: pa.Table, column: str, config: PiiConfig) -> tuple[pa.Table, dict[str, int]]:
    """Redact `column` of every row: the same rows in the same order (`size` updated where the
    table has one) and the summary counters (module docstring)."""
    scanner = scanner_for(config)
    sample = "paths" in table.column_names
    counts: Counter = Counter()
    notes: Counter = Counter()
    changed = 0
    out = []
    for text, paths in zip(table[column].to_pylist(), _row_paths(table)):
        if text:
            redactions, n = scanner.scan_row(text, paths, sample)
            notes += n
            if redactions:
                changed += 1
                counts.update(r.kind for r in redactions)
                text = redact_text(text, redactions)
        out.append(text)
    counters = {f"pii:{kind}": counts.get(kind, 0) for kind in PII_KINDS if kind in scanner.kinds}
    counters["pii_rows"] = changed
    counters["pii_licence_header_emails"] = notes.pop("licence_header_emails", 0)
    counters.update({f"pii_{name}": n for name, n in sorted(notes.items())})  # pii_kept:<reason>
    if changed:
        table = table.set_column(table.column_names.index(column), column,
                                 pa.array(out, type=table.schema.field(column).type))
        if "size" in table.column_names:
            sizes = [None if t is None else len(t.encode("utf-8")) for t in out]
            table = table.set_column(table.column_names.index("size"), "size",
                                     pa.array(sizes, type=table.schema.field("size").type))
    return table, counters
