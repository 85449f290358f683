"""Operability (issue 6): what an operator and a downstream developer rely on
without reading the code, on the real broker and the real database.

- /metrics in a valid Prometheus exposition, counters that move as items flow;
- /readyz that turns 503 when PostgreSQL stops and 200 when it returns, while
  /healthz and /metrics keep answering;
- --help (and the man page) listing every setting with its default;
- logs that are JSON lines with time, level and msg;
- every event the tests produce valid against schemas/enriched-event.schema.json
  (and its item against the official ninjs 2.1 schema), with formats checked;
- the example subscriber, run against events the real service produced.

These tests stop and start the shared PostgreSQL (deploy/local/postgres.sh):
run them serially, as ctest does."""

import datetime
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import time

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

import nwlib
from nwlib import Env, wait_log, wait_until

INGEST = os.path.join(nwlib.BIN, "newswire-ingest")
FEED = os.path.join(nwlib.BIN, "newswire-feed")
SAMPLE = os.path.join(nwlib.FIXTURES, "sample-feed")
SUBSCRIBER = os.path.join(nwlib.SOURCE, "examples", "subscriber", "similar_articles.py")
MANPAGE = os.path.join(nwlib.SOURCE, "docs", "newswire-ingest.1")
POSTGRES_SH = os.path.join(nwlib.SOURCE, "deploy", "local", "postgres.sh")
PYTHON = "/usr/bin/python3"  # Debian's, with python3-confluent-kafka

AP_STORY = "tag:ap.org,2011:0f3e2a9b8c7d4e5fa1b2c3d4e5f60718"

# Every family /metrics must have from the start, with its type.
FAMILIES = {
    "newswire_messages_consumed_total": "counter",
    "newswire_items_stored_total": "counter",
    "newswire_events_published_total": "counter",
    "newswire_dead_letters_total": "counter",
    "newswire_duplicates_total": "counter",
    "newswire_outbox_republished_total": "counter",
    "newswire_db_errors_total": "counter",
    "newswire_store_retries_total": "counter",
    "newswire_kafka_errors_total": "counter",
    "newswire_batch_size_messages": "histogram",
    "newswire_stage_duration_seconds": "histogram",
    "newswire_consumer_lag": "gauge",
    "newswire_consumer_lag_stored": "gauge",
    "newswire_outbox_backlog": "gauge",
    "newswire_partitions_assigned": "gauge",
    "newswire_ready": "gauge",
    "newswire_build_info": "gauge",
    "process_start_time_seconds": "gauge",
}


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


# ---- schema validation with real format checks ---------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_datetime(value):
    """RFC 3339 date-time. python3-jsonschema checks the format only with
    rfc3339-validator, which Debian 12 does not package: without this,
    "date-time" would silently pass anything."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def strict_validator(path):
    schema = json.load(open(path))
    cls = jsonschema.validators.validator_for(schema)
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(cls.FORMAT_CHECKER.checkers)
    checker.checkers["date-time"] = (_is_datetime, ())
    cls.check_schema(schema)
    return cls(schema, format_checker=checker)


def test_format_checks_are_real():
    """The validators used below reject what the schema's formats forbid."""
    v = strict_validator(os.path.join(nwlib.SOURCE, "schemas", "enriched-event.schema.json"))
    assert isinstance(v, jsonschema.Draft202012Validator)
    fc = v.format_checker
    assert fc.conforms("2026-11-04T18:30:02.113Z", "date-time")
    assert not fc.conforms("2026-11-04 18:30", "date-time")
    assert not fc.conforms("2026-13-04T18:30:02Z", "date-time")
    assert fc.conforms("5f0c8b1e-1234-4abc-8def-0123456789ab", "uuid")
    assert not fc.conforms("not-a-uuid", "uuid")


def check_events(events):
    """Every event: CloudEvents headers, body valid against the published
    schema (Draft 2020-12, formats checked), item valid against ninjs 2.1
    (skipped only when ../shared/schemas is absent)."""
    ev_validator = strict_validator(os.path.join(nwlib.SOURCE, "schemas", "enriched-event.schema.json"))
    ninjs_path = os.path.join(nwlib.SHARED, "schemas", "ninjs-schema_2.1.json")
    ninjs = strict_validator(ninjs_path) if os.path.exists(ninjs_path) else None
    for e in events:
        h = e["headers"]
        for name in ("ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion", "content-type"):
            assert h.get(name), (name, h)
        assert h["ce_specversion"] == "1.0" and h["content-type"] == "application/json"
        body = json.loads(e["value"])
        ev_validator.validate(body)
        assert body["id"] == h["ce_id"] and body["type"] == h["ce_type"]
        if ninjs is not None:
            ninjs.validate(body["item"])


# ---- process and HTTP helpers ------------------------------------------------------

def start(env, **extra):
    """newswire-ingest with its endpoint on a free loopback port (port 0: the
    kernel picks one, the log says which) and statistics every second."""
    extra.setdefault("NEWSWIRE_HTTP_ADDR", "127.0.0.1:0")
    extra.setdefault("NEWSWIRE_KAFKA__CONSUMER_STATISTICS_INTERVAL_MS", "1000")
    p = env.start_ingest(**extra)
    line = wait_log(p, lambda l: l.get("msg") == "http listening", timeout=30)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", line["addr"]) and not line["addr"].endswith(":0")
    p.base = "http://" + line["addr"]
    return p


def get(p, path, timeout=10):
    """(status, body text, headers) of GET base+path."""
    return nwlib.http_get(p.base + path, timeout)


_SAMPLE_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? '
    r'(-?[0-9.]+(?:e[+-]?[0-9]+)?|[+-]Inf|NaN)$')


def validate_exposition(text):
    """Check the text format 0.0.4 strictly (line grammar, HELP/TYPE once and
    before the samples, sample names of the declared family, no duplicate
    series, cumulative histogram buckets ending in +Inf = _count, counters
    named _total), parse it with prometheus_client, and lint it with promtool
    when installed. Returns {family name: Metric}."""
    assert text.endswith("\n")
    declared, types, seen = set(), {}, set()
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in declared, "HELP twice: " + name
            declared.add(name)
            current = name
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == current and name not in types, line
            assert typ in ("counter", "gauge", "histogram"), line
            types[name] = typ
            if typ == "counter":
                assert name.endswith("_total"), name
            continue
        assert not line.startswith("#") and line, repr(line)
        m = _SAMPLE_LINE.match(line)
        assert m, "bad sample line: %r" % line
        sample = m.group(1)
        fam = current
        allowed = {fam} if types[fam] != "histogram" else {fam + "_bucket", fam + "_sum", fam + "_count"}
        assert sample in allowed, (sample, fam)
        key = (sample, m.group(2))
        assert key not in seen, "duplicate series " + line
        seen.add(key)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for f in families.values():
        if f.type != "histogram":
            continue
        series = {}
        for s in f.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(labels, {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                series[labels]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[labels]["count"] = s.value
        for labels, v in series.items():
            les = [le for le, _ in v["buckets"]]
            counts = [c for _, c in v["buckets"]]
            assert les == sorted(les) and les[-1] == float("inf"), (f.name, labels)
            assert counts == sorted(counts), (f.name, labels, counts)
            assert counts[-1] == v["count"], (f.name, labels)
    promtool = shutil.which("promtool")
    if promtool:  # the Debian package `prometheus`; the checks above stand without it
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    return families


def scrape(p):
    status, text, headers = get(p, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return validate_exposition(text)


def value(families, sample, **labels):
    """Sum of the samples named `sample` whose labels include `labels`."""
    fam = re.sub(r"_(bucket|sum|count)$", "", sample)
    if fam not in families:
        fam = sample[:-len("_total")] if sample.endswith("_total") else sample
    total = 0.0
    for s in families[fam].samples if fam in families else []:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return total


def samples(families, fam, sample=None):
    return [s for s in families[fam].samples if sample is None or s.name == sample]


def check_logs(p, secret="newswire:newswire@"):
    """Every line is one JSON object with an RFC 3339 time, a level and a
    message; nothing leaks the database password."""
    text = open(p.logfile, encoding="utf-8").read()
    assert secret not in text
    n = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        line = json.loads(raw)
        assert isinstance(line, dict), raw
        assert _is_datetime(line.get("time")) and line["time"].endswith("Z"), raw
        assert line.get("level") in ("debug", "info", "warn", "error"), raw
        assert isinstance(line.get("msg"), str) and line["msg"], raw
        n += 1
    assert n > 0


# ---- /metrics ------------------------------------------------------------------------

def test_metrics_move_as_items_flow(env):
    p = start(env)
    wait_until(lambda: get(p, "/readyz")[0] == 200, timeout=60, what="/readyz 200")
    fams = scrape(p)
    for name, typ in FAMILIES.items():
        fam = name[:-len("_total")] if typ == "counter" else name
        assert fam in fams and fams[fam].type == typ, name
    assert value(fams, "newswire_messages_consumed_total") == 0
    assert value(fams, "newswire_partitions_assigned") == 4
    for check in ("postgres", "schema", "kafka", "partitions"):
        assert value(fams, "newswire_ready", check=check) == 1
    version = subprocess.run([INGEST, "--version"], capture_output=True, text=True).stdout.split()[1]
    info = samples(fams, "newswire_build_info")
    assert len(info) == 1 and info[0].labels["version"] == version and info[0].value == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+", info[0].labels["librdkafka"])
    assert abs(value(fams, "process_start_time_seconds") - time.time()) < 600

    # -- the sample feed: 6 messages, 5 items stored or redelivered, 1 dead letter --
    assert "delivered 6 of 6 messages" in env.feed(SAMPLE).stdout
    events = env.read(env.enriched, 5, timeout=60)
    dlq = env.read(env.dlq, 1, timeout=30)
    assert len(events) == 5 and len(dlq) == 1
    check_events(events)

    def settled():
        f = scrape(p)
        return f if (value(f, "newswire_events_published_total") == 5 and
                     value(f, "newswire_dead_letters_total") == 1) else None

    fams = wait_until(settled, timeout=30, what="counters after the first feed")
    assert value(fams, "newswire_messages_consumed_total") == 6
    assert value(fams, "newswire_messages_consumed_total", agency="ap", format="ap-media-json") == 2
    assert value(fams, "newswire_messages_consumed_total", agency="afp", format="afp-newsml-1.2") == 1
    stored = lambda **kw: value(fams, "newswire_items_stored_total", **kw)
    assert stored(outcome="stored") == 4
    assert stored(agency="ap", format="ap-media-json", outcome="stored") == 2
    assert stored(agency="reuters", format="reuters-newsml-g2", outcome="stored") == 1
    assert stored(agency="afp", format="afp-newsml-1.2", outcome="stored") == 1
    assert stored(agency="reuters", outcome="redelivered") == 1
    assert stored(outcome="refused") == 0
    published = lambda **kw: value(fams, "newswire_events_published_total", **kw)
    assert published(kind="new") == 4 and published(kind="updated") == 1
    assert published(agency="ap", kind="updated") == 1 and published(agency="reuters", kind="new") == 2
    dl = samples(fams, "newswire_dead_letters")
    assert [s.value for s in dl] == [1]
    assert dl[0].labels["stage"] == "parse"
    assert dl[0].labels["reason"] == dlq[0]["headers"]["newswire.error.code"]
    assert value(fams, "newswire_duplicates_total") == 1  # the Reuters redelivery
    batches = value(fams, "newswire_batch_size_messages_count")
    assert batches >= 1 and value(fams, "newswire_batch_size_messages_sum") == 6
    for stage in ("parse", "fingerprint", "store", "publish", "batch"):
        assert value(fams, "newswire_stage_duration_seconds_count", stage=stage) == batches
    assert (value(fams, "newswire_stage_duration_seconds_sum", stage="batch") >=
            value(fams, "newswire_stage_duration_seconds_sum", stage="store") > 0)
    # the batch log line carries the same stages, and the store thread's own CPU
    done = [l for l in nwlib.log_lines(p) if l.get("msg") == "batch done"]
    assert len(done) == batches and sum(l["messages"] for l in done) == 6
    for l in done:
        for k in ("parse_ms", "fingerprint_ms", "store_ms", "store_cpu_ms", "publish_ms"):
            assert isinstance(l[k], int) and l[k] >= 0, (k, l)
        assert l["store_cpu_ms"] <= l["store_ms"] + 1, l  # ms are truncated
    # the transactions run on their own, named thread
    threads = [open(c).read().strip() for c in glob.glob("/proc/%d/task/*/comm" % p.pid)]
    assert threads.count("nw-store") == 1, threads
    assert value(fams, "newswire_db_errors_total") == 0

    # -- lag per partition from librdkafka's statistics: all caught up ----------
    def caught_up():
        f = scrape(p)
        lag = {s.labels["partition"]: s.value for s in samples(f, "newswire_consumer_lag_stored")
               if s.labels["topic"] == env.raw}
        committed = {s.labels["partition"]: s.value for s in samples(f, "newswire_consumer_lag")
                     if s.labels["topic"] == env.raw}
        return f if lag == committed == {"0": 0, "1": 0, "2": 0, "3": 0} else None

    wait_until(caught_up, timeout=30, what="lag 0 on the 4 partitions")
    wait_until(lambda: value(scrape(p), "newswire_outbox_backlog") == 0 and
               env.sql("SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0,
               timeout=30, what="outbox backlog 0")

    # -- the same files again: every item a redelivery, events republished ------
    before = fams
    env.feed(SAMPLE)
    fams = wait_until(lambda: (lambda f: f if value(f, "newswire_dead_letters_total") == 2 and
                               value(f, "newswire_events_published_total") == 10 else None)(scrape(p)),
                      timeout=60, what="counters after the second feed")
    delta = lambda name, **kw: value(fams, name, **kw) - value(before, name, **kw)
    assert delta("newswire_messages_consumed_total") == 6
    assert delta("newswire_items_stored_total", outcome="stored") == 0
    assert delta("newswire_items_stored_total", outcome="redelivered") == 5
    assert delta("newswire_duplicates_total") == 5
    assert delta("newswire_events_published_total", kind="new") == 4
    assert delta("newswire_events_published_total", kind="updated") == 1
    assert delta("newswire_batch_size_messages_sum") == 6
    events = env.read(env.enriched, 10, timeout=60)
    assert len(events) == 10 and len({e["headers"]["ce_id"] for e in events}) == 4
    check_events(events)

    # -- the man page names every metric the service exports --------------------
    man = open(MANPAGE).read()
    for name in fams:
        exported = name + "_total" if fams[name].type == "counter" else name
        assert exported in man, "metric %s missing from docs/newswire-ingest.1" % exported

    assert env.stop(p) == 0
    check_logs(p)


# ---- /readyz -------------------------------------------------------------------------

def postgres(action):
    return subprocess.run(["bash", POSTGRES_SH, action], capture_output=True, text=True, timeout=120)


def test_readyz_follows_postgres(env):
    p = start(env, NEWSWIRE_RETRY_MAX_MS=1000)
    wait_until(lambda: get(p, "/readyz")[0] == 200, timeout=60, what="/readyz 200")
    assert get(p, "/readyz")[1] == "ready\n"
    try:
        r = postgres("stop")
        assert r.returncode == 0, r.stderr
        t = time.time()
        wait_until(lambda: get(p, "/readyz")[0] == 503, timeout=20, what="/readyz 503")
        noticed = time.time() - t
        status, body, _ = get(p, "/readyz")
        assert status == 503 and body == "not ready: postgres unreachable\n", body
        assert get(p, "/healthz")[:2] == (200, "ok\n")  # alive, just not ready
        fams = scrape(p)
        assert value(fams, "newswire_ready", check="postgres") == 0
        assert value(fams, "newswire_ready", check="kafka") == 1
        assert value(fams, "newswire_db_errors_total", **{"class": "transient"}) >= 1
        # an item arriving now waits for the database: no dead letter
        env.feed(os.path.join(SAMPLE, "01-ap-flood.json"))
        wait_log(p, lambda l: l.get("msg") == "database unavailable, retrying", timeout=30)
        assert get(p, "/readyz")[0] == 503
        assert p.poll() is None
        r = postgres("start")
        assert r.returncode == 0, r.stderr
        t = time.time()
        wait_until(lambda: get(p, "/readyz")[0] == 200, timeout=60, what="/readyz 200 again")
        recovered = time.time() - t
    finally:
        if postgres("status").returncode != 0:
            postgres("start")
    print("readyz: 503 after %.1f s, 200 again %.1f s after the restart" % (noticed, recovered))
    events = env.read(env.enriched, 1, timeout=60)
    assert [e["headers"]["ce_type"] for e in events] == ["newswire.item.new"]
    check_events(events)
    assert env.read(env.dlq, 0, timeout=5, settle=2) == []
    fams = scrape(p)
    assert value(fams, "newswire_ready", check="postgres") == 1
    assert value(fams, "newswire_items_stored_total", outcome="stored") == 1
    assert env.stop(p) == 0
    check_logs(p)


def test_endpoint_serves_during_startup(env):
    """The endpoint is up before the connections are made: /healthz answers
    and /readyz says what is missing while PostgreSQL does not answer."""
    # A PostgreSQL that never answers (a socket nobody accepts on): start-up
    # waits in the connection attempt, the endpoint already serves.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    try:
        port = hole.getsockname()[1]
        p = start(env, NEWSWIRE_PG_DSN="postgresql://newswire@127.0.0.1:%d/x?connect_timeout=6" % port)
        assert get(p, "/healthz")[0] == 200
        status, body, _ = get(p, "/readyz")
        assert status == 503 and "postgres unreachable" in body and "no partitions assigned" in body
        fams = scrape(p)
        assert value(fams, "newswire_ready", check="postgres") == 0
        assert p.wait(30) == 2  # then the start-up failure is fatal, as before
    finally:
        hole.close()
    check_logs(p)


# ---- settings --------------------------------------------------------------------------

def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)


_HELP_BLOCK = re.compile(r"^  --(\S+?)=(\S+)\n      (.+)\n      env (\S+), file key (\S+), default: (.*)$",
                         re.M)


def test_help_lists_every_setting_with_its_default():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    for prog in (INGEST, FEED):
        r = run([prog, "--print-config"], env=clean)
        assert r.returncode == 0, r.stderr
        settings = {}
        for line in r.stdout.splitlines():
            name, rest = line.split(" = ", 1)
            val, src = rest.rsplit("  # ", 1)
            assert src == "default", line
            settings[name] = val
        h = run([prog, "--help"], env=clean)
        assert h.returncode == 0
        helped = {m.group(5): m for m in _HELP_BLOCK.finditer(h.stdout)}
        assert set(helped) == set(settings), (prog, set(helped) ^ set(settings))
        for name, val in settings.items():
            m = helped[name]
            assert m.group(1) == name.replace(".", "-"), name
            assert m.group(4) == "NEWSWIRE_" + re.sub(r"[.-]", "_", name).upper(), name
            assert m.group(6) == (val if val else "(empty)"), (name, m.group(6), val)
            assert len(m.group(3)) > 10, name  # says what the setting does
        for flag in ("--kafka-opt", "--config", "--print-config", "--help", "--version"):
            assert flag in h.stdout, (prog, flag)
        if prog == INGEST:
            ingest_settings = settings
    # the man page documents the same settings with the same defaults
    man = open(MANPAGE).read()
    documented = {}
    for m in re.finditer(r'^\.BR (\S+) ", " (NEWSWIRE_\S+) " \((\S+)\), default (.*)"$', man, re.M):
        flag, envname, name, default = m.groups()
        assert flag.replace("\\-", "-") == "--" + name.replace(".", "-"), m.group(0)
        assert envname == "NEWSWIRE_" + re.sub(r"[.-]", "_", name).upper(), m.group(0)
        documented[name] = "" if default == "empty" else default
    assert documented == ingest_settings


def test_bad_http_addr_is_refused_with_the_setting_name(env):
    r = run([INGEST, "--http-addr=localhost"], env=env.env())
    assert r.returncode == 2 and "http.addr" in r.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        r = run([INGEST], env=env.env(NEWSWIRE_HTTP_ADDR=addr))
        assert r.returncode == 2 and "http.addr" in r.stderr and addr in r.stderr
    finally:
        busy.close()


# ---- the example subscriber ----------------------------------------------------------------

def test_example_subscriber(env, tmp_path):
    from test_similarity import FLOOD, FLOOD_MORE, FLOOD_OTHER_AGENCY, payload, story, write

    p = env.start_ingest()
    wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
    env.feed(SAMPLE)
    env.feed(SAMPLE)  # a replay: every event again, same ce_id
    # flood coverage: a Reuters story, its copy under another id, an update
    # under a new id, AFP's own story (related to the others, one cluster)
    head = "Floodwaters force 1,500 from homes as Millbrook River crests"
    for name, st, paras, minute, title in [
            ("1.xml", story("reuters", "L8N3SUB1"), FLOOD, 610, head),
            ("2.xml", story("reuters", "L8N3SUB2"), FLOOD, 612, head),
            ("3.xml", story("reuters", "L8N3SUB3"), FLOOD + FLOOD_MORE, 700, "UPDATE 1-" + head),
            ("4.xml", story("afp", "TX-PAR-SUB01", slug="US-weather-flood"), FLOOD_OTHER_AGENCY,
             640, "Oregon flood forces 1,500 from their homes")]:
        env.feed(write(tmp_path, name, payload(st, 0, "new", paras, minute, title)))
        time.sleep(0.3)  # one at a time, in the order the agencies sent them
    events = env.read(env.enriched, 14, timeout=60)
    assert len(events) == 14
    check_events(events)
    distinct = {}
    for e in events:
        distinct.setdefault(e["headers"]["ce_id"], json.loads(e["value"]))
    assert len(distinct) == 8
    assert any(l["relation"] == "related" for ev in distinct.values() for l in ev["links"])

    def subscribe():
        return run([PYTHON, SUBSCRIBER, "--brokers", nwlib.brokers(), "--topic", env.enriched,
                    "--group", "sub-" + env.tag, "--exit-when-idle", "5"])

    r = subscribe()
    assert r.returncode == 0, r.stderr
    assert "events: 8, repeats dropped: 6, skipped: 0" in r.stderr
    boxes = r.stdout.split("+-- Similar articles ")[1:]
    assert len(boxes) == 8, r.stdout
    for ev in distinct.values():  # one box per event, with its links as entries
        flat = [re.sub(r"\s+", " ", "".join(l[2:-2].strip() for l in b.splitlines()[1:-1]
                                            if l.startswith("| "))) for b in boxes]
        key = "%s, version %s (%s)" % (ev["provider"], ev["version"], ev["kind"])
        matching = [i for i, b in enumerate(flat) if key in b and ev["story_id"] in b]
        assert len(matching) == 1, (key, r.stdout)
        box, raw_box = flat[matching[0]], boxes[matching[0]]
        headline = next(h["value"] for h in ev["item"]["headlines"] if h.get("value"))
        assert headline.replace(" ", "") in box.replace(" ", "")
        # every link, best first, but a related story of a cluster already shown only once
        expected, clusters = [], set()
        for link in ev["links"]:
            if link["relation"] == "related" and link.get("cluster_id") in clusters:
                continue
            clusters.add(link.get("cluster_id"))
            expected.append(link)
        entries = re.findall(r"^\| ([a-z_]+) +(\d\.\d\d)  ", raw_box, re.M)
        assert entries == [(l["relation"], "%.2f" % l["score"]) for l in expected], (entries, ev["links"])
        for link in expected:
            what = link.get("headline") or link.get("story_id") or ""
            assert what.replace(" ", "") in box.replace(" ", "")
        if not expected:
            assert "no similar articles yet" in box
    assert re.search(r"^\| related +\d\.\d\d  reuters", r.stdout, re.M), r.stdout
    update = next(b for b in boxes if "(updated)" in b)
    assert re.search(r"^\| previous_version +1\.00  ap v0 +\|$", update, re.M), update
    # its offsets were stored after each event: a restart has nothing new to show
    r = subscribe()
    assert r.returncode == 0 and "events: 0, repeats dropped: 0" in r.stderr and r.stdout == ""
    assert env.stop(p) == 0
    check_logs(p)
