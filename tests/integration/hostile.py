"""Hostile raw messages for newswire-ingest, and what must become of each.

    python3 tests/integration/hostile.py DIR   # (re)write the corpus: one file per
                                               # payload up to 64 KiB, its headers and
                                               # expectation in DIR/MANIFEST.json

The corpus kept in the repository is tests/fuzz/corpus/hostile/; the
10 MB and 17 MB payloads are made at test time (tests/integration/test_hostile.py)
and not stored. Expectations: "dlq" (dead letter, class input, with a reason),
"stored" (stored, raw bytes verbatim, the listed fields exactly as sent), or
"either" (a dead letter with its reason, or stored safely)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import genfeed  # noqa: E402

# Every SQL meta-character a string-built query would trip on.
SQL = "'; DROP TABLE stories; -- $1 $$ \\ \\\\ \" '' %s %n {a,\"b\"} NULL E'\\x27' /* */ ` ;"
MB = 1024 * 1024


def ninjs(uri, headline, body="text", extra=None):
    d = {"uri": uri, "version": "1", "type": "text", "versioncreated": "2026-11-04T10:00:00Z",
         "pubstatus": "usable", "language": "en", "headline": headline, "body_text": body}
    d.update(extra or {})
    return json.dumps(d).encode()


def reuters(guid_tail, headline, doctype=""):
    story = {"id": guid_tail, "vbase": 1000, "t0": genfeed.when(1), "slug": "X-Y"}
    xml = genfeed.reuters_item(story, 0, "new", ["Body para."], genfeed.when(2), "HEADLINE_MARK", "Cork")
    xml = xml.replace("HEADLINE_MARK", headline)
    if doctype:
        xml = xml.replace('<?xml version="1.0" encoding="UTF-8"?>',
                          '<?xml version="1.0" encoding="UTF-8"?>' + doctype)
    return xml.encode()


def headers(fmt=None, agency=None):
    h = []
    if fmt:
        h.append(("newswire-format", fmt.encode()))
    if agency:
        h.append(("newswire-agency", agency.encode()))
    return h


def small_cases():
    """(name, payload, headers, expect, fields) -- fields: for "stored", the
    ninjs fields that must come back exactly."""
    lol = "".join('<!ENTITY l%d "%s">' % (i, "&l%d;" % (i - 1) * 10) for i in range(1, 10))
    c = [
        ("json-truncated", b'{"uri": "urn:x:1", "headline": ', headers("ninjs"), "dlq", None),
        ("json-trailing-garbage", b'{"uri": "urn:x:2"} }}}garbage', headers("ninjs"), "dlq", None),
        ("json-not-object", b'[1, 2, 3]', headers("ninjs"), "dlq", None),
        ("json-wrong-types", json.dumps({"uri": ["a"], "version": {"x": 1}, "headline": 7}).encode(),
         headers("ninjs"), "dlq", None),
        ("xml-truncated", b'<?xml version="1.0"?><newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/"><itemSet><newsItem guid="x"',
         headers("reuters-newsml-g2", "reuters"), "dlq", None),
        ("xml-mismatched", b'<NewsML Version="1.2"><NewsItem><Identification></NewsItem></NewsML>',
         headers(), "dlq", None),
        ("xml-not-wire", b'<?xml version="1.0"?><html><body><p>hello</p></body></html>', headers(), "dlq", None),
        ("xxe-file", reuters("XXE00001", "&xxe;", '<!DOCTYPE newsMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'),
         headers("reuters-newsml-g2", "reuters"), "either", None),
        ("xxe-http", reuters("XXE00002", "&xxe;", '<!DOCTYPE newsMessage [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]>'),
         headers("reuters-newsml-g2", "reuters"), "either", None),
        ("xxe-parameter", reuters("XXE00003", "title", '<!DOCTYPE newsMessage [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'),
         headers("reuters-newsml-g2", "reuters"), "either", None),
        ("billion-laughs", reuters("LOL00001", "&l9;", '<!DOCTYPE newsMessage [<!ENTITY l0 "lol">' + lol + ']>'),
         headers("reuters-newsml-g2", "reuters"), "either", None),
        ("quadratic-blowup", reuters("QUAD0001", "&a;" * 2000, '<!DOCTYPE newsMessage [<!ENTITY a "' + "x" * 20000 + '">]>'),
         headers("reuters-newsml-g2", "reuters"), "either", None),
        ("deep-json", b"[" * 30000 + b"]" * 30000, headers("ninjs"), "dlq", None),
        ("deep-json-object", b'{"a":' * 10000 + b"1" + b"}" * 10000, headers(), "dlq", None),
        ("deep-xml", b"<a>" * 9000 + b"</a>" * 9000, headers(), "dlq", None),
        ("invalid-utf8-json", b'{"uri": "urn:x:utf8", "version": "1", "type": "text", "versioncreated": "2026-11-04T10:00:00Z", "headline": "bad \xff\xfe \xc3\x28 bytes", "body_text": "\xed\xa0\x80 surrogate"}',
         headers("ninjs"), "either", None),
        ("invalid-utf8-xml", reuters("UTF80001", "bad UTF8MARK").replace(b"UTF8MARK", b"\xff\xfe\xc3\x28"),
         headers("reuters-newsml-g2", "reuters"), "either", None),
        ("nul-escaped-json", ninjs("urn:x:nul1", "nul \u0000 inside", "body \u0000"), headers("ninjs"), "either", None),
        ("nul-raw-json", b'{"uri": "urn:x:nul2", "headline": "a\x00b"}', headers("ninjs"), "either", None),
        ("nul-raw-xml", reuters("NUL00001", "a\x00b"), headers("reuters-newsml-g2", "reuters"), "either", None),
        ("empty", b"", headers(), "dlq", None),
        ("whitespace", b" \n\t\r\n ", headers(), "dlq", None),
        ("binary", bytes(range(256)) * 4, headers(), "dlq", None),
        ("header-wrong-format", ninjs("urn:x:hdr1", "Wrong format header"), headers("afp-newsml-1.2", "afp"), "either", None),
        ("header-unknown-format", ninjs("urn:x:hdr2", "Unknown format header"), headers("no-such-format"), "either", None),
        ("header-missing", ninjs("urn:x:hdr3", "No headers at all"), [], "stored", {"headline": "No headers at all"}),
        ("header-binary", ninjs("urn:x:hdr4", "Binary header"), [("newswire-format", b"\xff\x00\xfe"), ("newswire-agency", b"\x00")], "either", None),
        ("header-huge", ninjs("urn:x:hdr5", "Huge header"), [("newswire-agency", b"a" * 100000), ("newswire-format", b"ninjs")], "either", None),
        ("header-repeated", ninjs("urn:x:hdr6", "Repeated headers"), headers("ap-nitf") + headers("ninjs"), "either", None),
        ("sql-ninjs", ninjs("urn:x:" + SQL, SQL, SQL, {"version": SQL, "byline": SQL, "slugline": SQL, "located": SQL}),
         headers("ninjs"), "stored", {"uri": "urn:x:" + SQL, "version": SQL, "by": SQL, "slugline": SQL, "located": SQL,
                                      "headline": SQL}),
        ("sql-reuters", reuters("SQL00001", SQL.replace("&", "&amp;").replace("<", "&lt;")),
         headers("reuters-newsml-g2", "reuters"), "stored", {"headline": SQL}),
    ]
    return c


def big_cases():
    big_body = ("word " * (10 * MB // 5))[: 10 * MB]
    return [
        ("10mb-valid-ninjs", ninjs("urn:x:big1", "Ten megabytes", big_body), headers("ninjs"), "stored",
         {"headline": "Ten megabytes"}),
        ("10mb-garbage", b"A" * (10 * MB), headers(), "dlq", None),
        ("10mb-unclosed-xml", b"<newsMessage>" + b"<p>x</p>" * (10 * MB // 8), headers(), "dlq", None),
        ("17mb-over-limit", b'{"uri": "urn:x:big2", "body_text": "' + b"y" * (17 * MB) + b'"}', headers("ninjs"), "dlq", None),
    ]


def sanitized(binary):
    """True for an ASan/UBSan build (tests/run.sh runs the integration tests
    on one too): valgrind cannot run it, and ASan's shadow memory and
    quarantine inflate its resident memory by design."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def write_corpus(d):
    os.makedirs(d, exist_ok=True)
    manifest = []
    for name, payload, hdrs, expect, fields in small_cases():
        if len(payload) > 64 * 1024:
            continue
        with open(os.path.join(d, name), "wb") as f:
            f.write(payload)
        manifest.append({"file": name, "expect": expect, "fields": fields,
                         "headers": [[k, v.decode("latin-1")] for k, v in hdrs]})
    with open(os.path.join(d, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    write_corpus(sys.argv[1])
