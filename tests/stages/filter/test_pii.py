"""`--rules pii`: secrets and personal data redacted, nothing else touched (stages/filter/pii.py)."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import sysconfig
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import read_output
from stages.core.errors import UsageError
from stages.core.languages import detect_language
from stages.core.sample_text import build_sample_text, split_sample
from stages.core.schemas import FILES_SCHEMA, SAMPLES_SCHEMA
from stages.filter.config import PiiConfig
from stages.filter.pii import (PLACEHOLDER, PUBLIC_RESOLVERS, SECRET_PLUGINS, PiiScanner, file_segments, ip_verdict,
                               redact_table, redact_text)

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _jwt() -> str:
    part = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': '1234567890', 'name': 'Jane'})}.qX3v9Lm2Rt8KpZ0wYc4NbHs6"


# (line with a planted value, the value, its placeholder): every kind the issue names, and more.
PLANTED = [
    ('AWS_ACCESS_KEY_ID = "{}"', "AKIAZ7QXW4PLM2N3R5TY", "<KEY>"),
    ('aws_secret_access_key = "{}"', "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8LMd3KeY", "<KEY>"),
    ('GITHUB_TOKEN = "{}"', "ghp_R8xT2mQ9vL4kP7nW3yZ6bC1dF5gH0jK2sA9e", "<KEY>"),
    ('gh_fine = "{}"', "github_pat_" + "11ABCDEFG0aB3dE5gH7jK9" + "_" + "mN1pQ3sT5vX7zA9cE1gI3" * 2 + "kM5oQ7sU9wY1aC3eG", "<KEY>"),
    ('slack = "{}"', "xoxb-2048163264-4096819203-qW3eR5tY7uI9oP1aS2dF4gH6", "<KEY>"),
    ('stripe.api_key = "{}"', "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "<KEY>"),
    ('maps_key = "{}"', "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "<KEY>"),
    ('session = "{}"', _jwt(), "<KEY>"),
    ('db_password = "{}"', "Tr0ub4dor&3x", "<PASSWORD>"),
    ('DATABASE_URL = "postgres://admin:{}@db.acme-widgets.com:5432/app"', "s3cr3tP4ss", "<PASSWORD>"),
    ('MAINTAINER_MAIL = "{}"', "bob.smith@acme-widgets.com", "<EMAIL>"),
    ('UPSTREAM = ("{}", 8080)', "93.184.216.34", "<IP_ADDRESS>"),
    ('UPSTREAM_V6 = "{}"', "2a00:1450:4001:82b::200e", "<IP_ADDRESS>"),
]
PEM_BODY = "\nMIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2Ot1tqFJg1nBfUAq8dYSw3\nq0Y7Hn4sRtV9eKpL2cW\n"
PEM = f"KEY = '''-----BEGIN RSA PRIVATE KEY-----{PEM_BODY}-----END RSA PRIVATE KEY-----'''"


def planted_block() -> tuple[str, str]:
    """(the planted lines, the same lines as they must come out)."""
    lines = [line.format(value) for line, value, _ in PLANTED] + [PEM]
    expected = [line.format(placeholder) for line, _, placeholder in PLANTED]
    expected.append(PEM.replace(PEM_BODY, "<KEY>"))
    return "\n".join(lines) + "\n", "\n".join(expected) + "\n"


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner(PiiConfig())


def scan(scanner, text, path="m.py"):
    return scanner.scan_row(text, [path], False)


# --- planted secrets in a real file -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["heapq.py", "colorsys.py", "bisect.py"])
def test_planted_secrets_redacted_and_nothing_else_changes(scanner, host):
    original = (STDLIB / host).read_text(encoding="utf-8")
    assert scan(scanner, original)[0] == [], f"{host} itself has something to redact: pick another host"
    cut = original.index("\n", len(original) // 2) + 1  # at a line boundary in the middle
    block, expected_block = planted_block()
    text = original[:cut] + block + original[cut:]
    redactions, _ = scan(scanner, text)
    # Byte for byte: the host file's text outside the planted block is untouched, and inside it
    # exactly the planted values became their placeholders.
    assert redact_text(text, redactions) == original[:cut] + expected_block + original[cut:]
    kinds = Counter(r.kind for r in redactions)
    assert kinds == {"key": 9, "password": 2, "email": 1, "ip_address": 2}
    for r in redactions:  # each redaction is one planted value, of the planted kind
        assert text[r.start:r.end] == r.value
        planted = [p for _, v, p in PLANTED if v == r.value] or (["<KEY>"] if r.value == PEM_BODY else [])
        assert planted == [PLACEHOLDER[r.kind]], r


def test_what_detect_secrets_itself_reports(scanner, tmp_path):
    """The same detect-secrets plugins through its own per-file API find the same lines (our
    triggers lose nothing); where it reports only a token's prefix (GitHub) we redact the token."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import transient_settings

    block, _ = planted_block()
    path = tmp_path / "planted.py"
    path.write_text(block)
    with transient_settings({"plugins_used": [{"name": n} for n in SECRET_PLUGINS]}):
        collection = SecretsCollection()
        collection.scan_file(str(path))
    theirs = {s.line_number for secrets in collection.data.values() for s in secrets}
    redactions, _ = scan(scanner, block)
    ours = {block.count("\n", 0, r.start) + 1 for r in redactions if r.detector in SECRET_PLUGINS}
    assert theirs and theirs == ours
    github = [s.secret_value for secrets in collection.data.values() for s in secrets if s.type == "GitHub Token"]
    assert github == ["ghp"]  # detect-secrets 1.5.0's capture group; we redact the whole token


def _plugin_examples() -> dict[str, str]:
    """A line each RegexBasedDetector plugin's own regex matches."""
    return {
        "ArtifactoryDetector": 'art = "AKCp8jQ7vK2mX9wRtLs"', "AzureStorageKeyDetector": "AccountKey=" + "a1B2" * 22,
        "CloudantDetector": 'cloudant_password = "' + "ab12" * 16 + '"', "DiscordBotTokenDetector":
        'discord = "MTA4NzY1NDMyMTA5ODc2NTQzMg.GhT5xY.q9Lm2Rt8KpZ0wYc4NbHs6Vd1FgJ"',
        "GitLabTokenDetector": 'gl = "glpat-Xq8vR2mT9kL4pW7nZ3yB"', "IbmCloudIamDetector":
        'ibm_cloud_iam_api_key = "' + "aB3_dE5-gH7j" * 3 + 'aB3_dE5g"', "IbmCosHmacDetector":
        'ibm_cos_hmac_secret_access_key = "' + "0a1b2c3d4e5f" * 4 + '"', "MailchimpDetector":
        'mc = "' + "0a1b2c3d" * 4 + '-us12"', "NpmDetector": "//registry.npmjs.org/:_authToken=npm_Xq8vR2mT9kL4pW7n",
        "OpenAIDetector": 'oa = "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"', "PypiTokenDetector":
        'pypi = "pypi-AgEIcHlwaS5vcmc' + "Xq8vR2mT9k" * 7 + '"', "SendGridDetector":
        'sg = "SG.' + "Xq8vR2mT9kL4pW7nZ3yB_c" + "." + "Xq8vR2mT9kL4pW7nZ3yB_cXq8vR2mT9kL4pW7nZ3yB_c" + '"',
        "SoftlayerDetector": 'softlayer_api_key = "' + "a1b2c3d4" * 8 + '"', "SquareOAuthDetector":
        'sq = "sq0csp-' + "Xq8vR2mT9kL4pW7nZ3yB_c" + "Xq8vR2mT9kL4pW7nZ3yB_" + '"', "TelegramBotTokenDetector":
        'tg = "123456789:AAHq8vR2mT9kL4pW7nZ3yB_cXq8vR2mT9kL"', "TwilioKeyDetector": 'tw = "AC' + "a1b2c3d4" * 4 + '"',
        "StripeDetector": 'st = "rk_live_4eC39HqLyjWDarjtT1zdp7dc"',
        "AWSKeyDetector": 'AWS = "ASIAZ7QXW4PLM2N3R5TY"', "BasicAuthDetector": 'u = "https://u:pw0rd@host.io/"',
        "GitHubTokenDetector": 'g = "gho_' + "R8xT2mQ9vL4kP7nW3yZ6bC1dF5gH0jK2sA9e" + '"', "JwtTokenDetector":
        f'j = "{_jwt()}"', "SlackDetector": "hook = 'https://hooks.slack.com/services/T0123/B4567/Xq8vR2mT9kL4'",
    }


def test_every_plugin_line_is_a_candidate_line(scanner):
    """A plugin only sees lines holding its trigger: on real files and on an example of each
    plugin, every line its own regexes match must be one of those lines."""
    examples = _plugin_examples()
    assert set(examples) | {"KeywordDetector"} == set(SECRET_PLUGINS)
    texts = [(STDLIB / p).read_text(encoding="utf-8") for p in ("test/test_urllib2.py", "smtplib.py",
                                                                "test/test_imaplib.py", "netrc.py", "ssl.py")]
    texts.append("\n".join(examples.values()) + "\npassword: hunter2\nsecret = 'x9Lm2Rt8'\n")
    checked = Counter()
    for name, (_, trigger, plugin) in ((n, (k, t, p)) for n, k, t, p in scanner.plugins):
        for text in texts:
            lower = text.lower()
            candidates = scanner._candidate_lines(text, trigger, {}, lower)
            pos = 0
            for line in text.split("\n"):
                if name == "KeywordDetector":
                    hit = any(plugin.analyze_line(filename=f, line=line) for f in ("m.py", "c.yaml", "m.go", "m.c"))
                else:
                    hit = any(regex.search(line) for regex in plugin.denylist)
                if hit:
                    checked[name] += 1
                    assert pos in candidates, (name, line)
                pos += len(line) + 1
    assert set(checked) == set(SECRET_PLUGINS), set(SECRET_PLUGINS) - set(checked)
    # The examples are real finds: each plugin finds its own example (before overlaps are resolved:
    # `cloudant_password = "..."` is also the KeywordDetector's, whose <PASSWORD> wins).
    for name, line in examples.items():
        assert any(r.detector == name for r in scanner.scan_file(line + "\n", "m.py")[0]), name
        assert scan(scanner, line + "\n")[0], name


# --- e-mails: licence headers, example domains -------------------------------------------------------


def test_licence_header_emails_follow_the_option():
    host = (STDLIB / "textwrap.py").read_text(encoding="utf-8")  # "# Written by Greg Ward <gward@python.net>"
    line = "# Written by Greg Ward <gward@python.net>"
    assert line in host.split("\n")[:10]
    far = "\n" * 40 + "# Copyright 2001 Ann Other <ann.other@python.net>\n"  # not in the header
    text = host + far
    table = pa.Table.from_pylist([{"path": "textwrap.py", "content": text}])
    redacted, counters = redact_table(table, "content", PiiConfig())
    out = redacted["content"][0].as_py()
    assert "# Written by Greg Ward <<EMAIL>>" in out and "<ann.other@python.net>" not in out
    assert counters["pii:email"] == 2 and counters["pii_licence_header_emails"] == 1
    kept, counters = redact_table(table, "content", PiiConfig(licence_emails="keep"))
    out = kept["content"][0].as_py()
    assert line in out and "Ann Other <<EMAIL>>" in out
    assert counters["pii:email"] == 1 and counters["pii_kept:licence_header_email"] == 1
    # Everything but the redacted address is the original text.
    assert out == text.replace("ann.other@python.net", "<EMAIL>")


def test_reserved_example_domains_and_git_remotes_are_kept(scanner):
    text = ("a = 'jane@example.com'\nb = 'ops@mail.example.org'\nc = 'x@build.test'\nd = 'root@localhost'\n"
            "e = 'git@github.com:owner/repo.git'\nf = 'jane@examples.com'\n@functools.wraps(f)\ng = x @ y.T\n")
    redactions, notes = scan(scanner, text)
    assert [r.value for r in redactions] == ["jane@examples.com"]
    # root@localhost has no dot: not taken for an address at all.
    assert notes["kept:example_domain"] == 3 and notes["kept:git_remote"] == 1


# --- IP addresses: documentation, private, versions --------------------------------------------------


@pytest.mark.parametrize("value,line,verdict", [
    ("93.184.216.34", "host = '93.184.216.34'", "redact"),
    ("2a00:1450:4001:82b::200e", "", "redact"),
    ("192.0.2.7", "", "special_ip"), ("198.51.100.23", "", "special_ip"), ("203.0.113.9", "", "special_ip"),
    ("2001:db8::1", "", "special_ip"),  # RFC 5737 / RFC 3849 documentation ranges
    ("10.1.2.3", "", "special_ip"), ("172.16.0.1", "", "special_ip"), ("192.168.1.1", "", "special_ip"),
    ("127.0.0.1", "", "special_ip"), ("::1", "", "special_ip"), ("169.254.1.1", "", "special_ip"),
    ("fe80::1", "", "special_ip"), ("fd12:3456:789a::1", "", "special_ip"), ("0.0.0.0", "", "special_ip"),
    ("255.255.255.0", "", "special_ip"), ("224.0.0.251", "", "special_ip"), ("100.64.0.1", "", "special_ip"),
    ("8.8.8.8", "nameserver 8.8.8.8", "public_resolver"), ("2606:4700:4700::1111", "", "public_resolver"),
    ("7.1.4.34", "e.g., ['7.1.4.34', 1806]", "version_number"),
    ("8.2.4.44", '# the HTML5 spec section "8.2.4.44 Bogus comment state"', "version_number"),
    ("2.0.1.3", "__version__ = '2.0.1.3'", "version_number"),
    ("1.2.3.4", "connect(('1.2.3.4', 80))", "redact"),  # small numbers, but the line is about addresses
    ("1.2.3.0", "['1.2.3.0/26', '1.2.3.64/26']", "version_number"),  # alone; with 1.2.3.64 redacted: see below
    ("999.1.1.1", "", "not_an_ip"),
])
def test_ip_verdicts(value, line, verdict):
    assert ip_verdict(value, line) == verdict


def test_small_numbers_next_to_an_address_are_an_address(scanner):
    text = "nets = ['1.2.3.0/26', '1.2.3.64/26']\nsee = ['7.1.4.34', 1806]\n"
    out = redact_text(text, scan(scanner, text)[0])
    assert out == "nets = ['<IP_ADDRESS>/26', '<IP_ADDRESS>/26']\nsee = ['7.1.4.34', 1806]\n"
    assert scan(scanner, out)[0] == []


def test_ip_shapes_in_code_are_not_addresses(scanner):
    text = ("a = x[1::2]\nclass A::B::C {}\nmac = '00:1a:2b:3c:4d:5e'\nt = '12:30:45'\noid = '1.3.6.1.4.1.311'\n"
            "pkg = 'foo-93.184.216.34'\nv = 'v93.184.216.34'\nlong = '93.184.216.34.5'\n.. code-block::\n"
            "ok = '93.184.216.34.'\n")
    redactions, _ = scan(scanner, text)
    assert [(r.kind, r.value) for r in redactions] == [("ip_address", "93.184.216.34")]


# --- the standard library: every redaction inspected --------------------------------------------------


_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def stdlib_redactions(scanner):
    files = []
    for p in sorted(STDLIB.rglob("*")):
        rel = p.relative_to(STDLIB).as_posix()
        if "site-packages" in p.parts or not p.is_file() or detect_language(rel) is None:
            continue
        try:
            files.append((rel, p.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    return [(rel, text, *scan(scanner, text, rel)) for rel, text in files]


def test_stdlib_redactions_each_of_its_kind(stdlib_redactions):
    counts, notes = Counter(), Counter()
    for rel, text, redactions, n in stdlib_redactions:
        notes += n
        previous_end = 0
        for r in redactions:
            counts[r.kind] += 1
            assert r.start >= previous_end and text[r.start:r.end] == r.value, (rel, r)  # ordered, disjoint, exact
            previous_end = r.end
            if r.kind == "email":
                assert _EMAIL.fullmatch(r.value), (rel, r.value)
                assert not r.value.lower().endswith(("example.com", "example.org", ".test")), (rel, r.value)
            elif r.kind == "ip_address":
                ip = ipaddress.ip_address(r.value)
                assert ip.is_global and not ip.is_multicast and r.value not in PUBLIC_RESOLVERS, (rel, r.value)
            else:
                assert r.kind in ("key", "password") and r.detector in SECRET_PLUGINS or r.detector.startswith("regex:")
                assert r.value.strip() and "\n" not in r.value or r.detector == "regex:pem_private_key", (rel, r)
    # Measured on CPython 3.11's library (docs/filter.md#pii): hundreds of author addresses, the
    # addresses of the socket/ipaddress tests, a few dozen test passwords and no real key.
    assert counts["email"] > 300 and counts["ip_address"] > 100 and counts["password"] > 10, counts
    assert notes["kept:example_domain"] > 100 and notes["kept:special_ip"] > 100, notes
    assert notes["kept:version_number"] > 10 and notes["licence_header_emails"] > 50, notes


def test_stdlib_redaction_is_idempotent_and_touches_only_its_spans(stdlib_redactions, scanner):
    changed = 0
    for rel, text, redactions, _ in stdlib_redactions:
        if not redactions:
            continue
        changed += 1
        out = redact_text(text, redactions)
        # Outside the spans nothing moved: cutting the placeholders back out gives the text's rest.
        pattern = "|".join(re.escape(p) for p in PLACEHOLDER.values())
        pieces = re.split(pattern, out)
        assert len(pieces) == len(redactions) + 1 + sum(text.count(p) for p in PLACEHOLDER.values())
        rest, pos = [], 0
        for r in redactions:
            rest.append(text[pos:r.start])
            pos = r.end
        rest.append(text[pos:])
        assert "".join(pieces) == "".join(rest), rel
        assert scan(scanner, out, rel)[0] == [], rel  # placeholders are not found again
    assert changed > 50


# --- samples: path headers untouched -------------------------------------------------------------------


def test_sample_headers_never_touched_and_each_file_scanned_as_itself(scanner):
    files = [("people/bob.smith@acme-widgets.com.py", "Python", "OWNER = 'bob.smith@acme-widgets.com'\n"),
             ("hosts/93.184.216.34.py", "Python", "HOST = '93.184.216.34'\n"),
             ("deploy/config.yaml", "YAML", "user: admin\npassword: Tr0ub4dorX3\n")]
    paths = [p for p, _, _ in files]
    text = build_sample_text(files)
    redactions, _ = scanner.scan_row(text, paths, True)
    out = redact_text(text, redactions)
    parts = split_sample(out, paths)  # still a valid topo-sort sample
    assert parts == ["OWNER = '<EMAIL>'\n", "HOST = '<IP_ADDRESS>'\n", "user: admin\npassword: <PASSWORD>\n"]
    for path in paths:
        assert f"# {path}\n" in out
    # An unquoted YAML password is found because the file is scanned as a .yaml file; the same
    # line in a Python file is not an assignment detect-secrets reports.
    assert scanner.scan_row("password: Tr0ub4dorX3\n", ["a.py"], False)[0] == []
    assert [s[2] for s in file_segments(text, paths)] == paths


def test_sample_that_does_not_split_still_keeps_header_lines(scanner):
    text = "# a/93.184.216.34.py\nx = 1\n# a/93.184.216.34.py\nHOST = '93.184.216.34'\n"
    redactions, _ = scanner.scan_row(text, ["a/93.184.216.34.py", "b.py"], True)
    assert redact_text(text, redactions) == "# a/93.184.216.34.py\nx = 1\n# a/93.184.216.34.py\nHOST = '<IP_ADDRESS>'\n"


# --- config and the stage ---------------------------------------------------------------------------------


def test_kinds_select_what_is_redacted_and_bad_kinds_are_usage_errors():
    table = pa.Table.from_pylist([{"path": "m.py", "content": 'a = "bob@acme-widgets.com"\npassword = "Tr0ub4dorX3"\n'}])
    out, counters = redact_table(table, "content", PiiConfig(kinds=("password",)))
    assert out["content"][0].as_py() == 'a = "bob@acme-widgets.com"\npassword = "<PASSWORD>"\n'
    assert counters == {"pii:password": 1, "pii_rows": 1, "pii_licence_header_emails": 0}
    with pytest.raises(UsageError, match="unknown kind phone"):
        PiiConfig(kinds=("email", "phone"))
    with pytest.raises(UsageError, match="licence"):
        PiiConfig(licence_emails="maybe")


def _files_shard(folder: Path, contents: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True)
    rows = [{"repo": "demo", "commit": None, "path": path, "lang": lang, "content": c, "size": len(c.encode()),
             "sha": f"{i:040x}", "license": None, "repo_created_at": None} for i, (path, lang, c) in enumerate(contents)]
    pq.write_table(pa.Table.from_pylist(rows, schema=FILES_SCHEMA), folder / "part-00000.parquet")
    return folder


def test_cli_rules_pii_keeps_every_row_with_counters_in_stats(cli, tmp_path):
    block, expected = planted_block()
    heapq = (STDLIB / "heapq.py").read_text(encoding="utf-8")
    docs = [("planted.py", "Python", heapq + block), ("heapq.py", "Python", heapq),
            ("min.js", "JavaScript", "var a=" + "x" * 1200 + ";\n"), ("c.json", "JSON", '{"a": 1}')]
    src = _files_shard(tmp_path / "files", docs)
    out = tmp_path / "out"
    summary = cli.json("filter", src, out, "--rules", "pii")
    assert summary["rows_in"] == summary["rows_kept"] == 4 and summary["rows_rejected"] == 0
    stats = json.loads((out / "_dscoder/stats.json").read_text())
    assert stats["counters"]["pii:key"] == 9 and stats["counters"]["pii:password"] == 2
    assert stats["counters"]["pii:email"] == 1 and stats["counters"]["pii:ip_address"] == 2
    assert stats["counters"]["pii_rows"] == 1
    kept = read_output(out).to_pylist()
    assert kept[0]["content"] == heapq + expected and kept[0]["size"] == len((heapq + expected).encode())
    assert [r["content"] for r in kept[1:]] == [c for _, _, c in docs[1:]]
    # With the StarCoder rules: they reject, pii redacts what is kept, in = kept + rejected.
    both = cli.json("filter", src, tmp_path / "both", "--rules", "starcoder,pii", "--workers", "2")
    assert (both["rows_kept"], both["rows_rejected"]) == (2, 2)
    assert both["counters"]["rejected:avg_line_length"] == both["counters"]["rejected:alpha_fraction"] == 1
    assert both["counters"]["pii:key"] == 9
    assert read_output(tmp_path / "both")["content"].to_pylist() == [heapq + expected, heapq]
    manifest = json.loads((out / "_dscoder/manifest.json").read_text())
    assert manifest["options"]["transforms"]["pii"]["detect_secrets"] == "1.5.0"
    # A changed pii option is a changed output: resume refused; an unknown kind is a usage error.
    r = cli("filter", src, out, "--rules", "pii", "--pii", "email", expect=2)
    assert "pii" in r.stderr
    r = cli("filter", src, tmp_path / "bad", "--rules", "pii", "--pii", "email,phone", expect=2)
    assert "phone" in r.stderr


def test_cli_samples_shard_and_quality_decontam_pii(cli, tmp_path):
    files = [("pkg/util.py", "Python", "def answer():\n    return 42\n"),
             ("pkg/settings.py", "Python", "from pkg.util import answer\nADMIN_EMAIL = 'ops@acme-widgets.com'\n")]
    text = build_sample_text(files)
    rows = [{"sample_id": "r#0", "repo": "r", "lang": "Python", "paths": [p for p, _, _ in files], "text": text,
             "n_files": 2, "size": len(text.encode())}]
    src = tmp_path / "samples"
    src.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=SAMPLES_SCHEMA), src / "part-00000.parquet")
    s = cli.json("filter", src, tmp_path / "o", "--rules", "quality,decontam,pii", "--decontam", "humaneval")
    # file granularity (the default): rows are the files of the sample; both kept, one sample out
    assert s["rows_kept"] == 2 and s["counters"]["samples_kept"] == 1 and s["counters"]["pii:email"] == 1
    row = read_output(tmp_path / "o").to_pylist()[0]
    assert row["text"] == text.replace("ops@acme-widgets.com", "<EMAIL>")
    assert split_sample(row["text"], row["paths"])[1].endswith("ADMIN_EMAIL = '<EMAIL>'\n")
