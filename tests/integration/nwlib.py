"""Helpers for newswire's integration tests: a private database and private
topics per test, the real newswire binaries as subprocesses, and a real Kafka
client (confluent-kafka, librdkafka) to read what they publish.

The tests need the local stack of deploy/local (tests/run.sh starts it and
exports NEWSWIRE_KAFKA_BROKERS and NEWSWIRE_PG_DSN)."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit, urlunsplit

import jsonschema
import psycopg2
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SOURCE = os.environ.get("NW_SOURCE", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("NW_BIN", os.path.join(SOURCE, "build", "bin"))
FIXTURES = os.path.join(SOURCE, "tests", "fixtures")
SHARED = os.path.abspath(os.path.join(SOURCE, "..", "shared"))


_validators = {}


def validator(name):
    """A strict JSON Schema validator (with format checks) for schemas/<name>,
    or for the official ninjs 2.1 schema from ../shared when name is "ninjs"
    (None when that reference copy is absent)."""
    if name not in _validators:
        if name == "ninjs":
            path = os.path.join(SHARED, "schemas", "ninjs-schema_2.1.json")
        else:
            path = os.path.join(SOURCE, "schemas", name)
        if not os.path.exists(path):
            _validators[name] = None
        else:
            schema = json.load(open(path))
            cls = jsonschema.validators.validator_for(schema)
            _validators[name] = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return _validators[name]


def check_event(body):
    """Every enriched event a test reads must match the published schema, and
    its item the official ninjs 2.1 schema."""
    validator("enriched-event.schema.json").validate(body)
    ninjs = validator("ninjs")
    if ninjs is not None:
        ninjs.validate(body["item"])


def brokers():
    return os.environ.get("NEWSWIRE_KAFKA_BROKERS", "127.0.0.1:9092")


def admin_dsn():
    dsn = os.environ.get("NEWSWIRE_PG_DSN")
    if not dsn:
        raise RuntimeError("NEWSWIRE_PG_DSN is not set: run the tests through tests/run.sh")
    return dsn


def dsn_for(dbname):
    """The admin DSN pointing at another database."""
    parts = urlsplit(admin_dsn())
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


class Env:
    """A private database and private topics, dropped at the end."""

    def __init__(self, name, partitions=4):
        tag = re.sub(r"[^a-z0-9]", "", name.lower())[:20] + "_" + uuid.uuid4().hex[:8]
        self.tag = tag
        self.dbname = "nwt_" + tag
        self.raw = "t." + tag + ".raw"
        self.enriched = "t." + tag + ".enriched"
        self.dlq = "t." + tag + ".dlq"
        self.group = "g." + tag
        con = psycopg2.connect(admin_dsn())
        con.autocommit = True
        con.cursor().execute('CREATE DATABASE "%s"' % self.dbname)
        con.close()
        self.dsn = dsn_for(self.dbname)
        admin = AdminClient({"bootstrap.servers": brokers()})
        futures = admin.create_topics([
            NewTopic(self.raw, partitions, 1),
            NewTopic(self.enriched, partitions, 1),
            NewTopic(self.dlq, 1, 1),
        ])
        for f in futures.values():
            f.result(30)
        self.procs = []
        self.logdir = tempfile.mkdtemp(prefix="nwt-" + tag + "-")

    def env(self, **extra):
        e = dict(os.environ)
        e.update({
            "NEWSWIRE_KAFKA_BROKERS": brokers(),
            "NEWSWIRE_PG_DSN": self.dsn,
            "NEWSWIRE_TOPIC_RAW": self.raw,
            "NEWSWIRE_TOPIC_ENRICHED": self.enriched,
            "NEWSWIRE_TOPIC_DLQ": self.dlq,
            "NEWSWIRE_GROUP_ID": self.group,
            "NEWSWIRE_HTTP_ADDR": "",
            "NEWSWIRE_BATCH_WAIT_MS": "50",
            "NEWSWIRE_LOG_LEVEL": "info",
        })
        for k, v in extra.items():
            e[k] = str(v)
        return e

    # -- processes -----------------------------------------------------------

    def start_ingest(self, name="ingest", **extra):
        log = os.path.join(self.logdir, "%s-%d.log" % (name, len(self.procs)))
        f = open(log, "wb")
        p = subprocess.Popen([os.path.join(BIN, "newswire-ingest")], env=self.env(**extra),
                             stdout=f, stderr=subprocess.STDOUT)
        f.close()
        p.logfile = log
        self.procs.append(p)
        return p

    def feed(self, *paths, check=True, **extra):
        r = subprocess.run([os.path.join(BIN, "newswire-feed"), *paths], env=self.env(**extra),
                           capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError("newswire-feed failed: %s %s" % (r.stdout, r.stderr))
        return r

    def stop(self, p, sig=signal.SIGTERM, timeout=60):
        if p.poll() is None:
            p.send_signal(sig)
        return p.wait(timeout)

    # -- database ------------------------------------------------------------

    def sql(self, query, args=()):
        con = psycopg2.connect(self.dsn)
        try:
            cur = con.cursor()
            cur.execute(query, args)
            rows = cur.fetchall() if cur.description else []
            con.commit()
            return rows
        finally:
            con.close()

    # -- kafka ---------------------------------------------------------------

    def produce(self, topic, value, key=None, headers=None, partition=None):
        p = Producer({"bootstrap.servers": brokers()})
        where = {} if partition is None else {"partition": partition}
        p.produce(topic, value=value, key=key, headers=headers or [], **where)
        assert p.flush(30) == 0

    def read(self, topic, count, timeout=60, settle=1.0):
        """Read a topic from the beginning until `count` messages arrived (and
        nothing more came for `settle` seconds), or the timeout. Returns a
        list of dicts with key, value, headers (dict), partition, offset."""
        c = Consumer({"bootstrap.servers": brokers(), "group.id": "reader-" + uuid.uuid4().hex,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([topic])
        out = []
        deadline = time.time() + timeout
        last = time.time()
        try:
            while time.time() < deadline:
                m = c.poll(0.2)
                if m is None:
                    if len(out) >= count and time.time() - last >= settle:
                        break
                    continue
                if m.error():
                    continue
                last = time.time()
                if topic == self.enriched:
                    check_event(json.loads(m.value()))
                out.append({
                    "key": m.key().decode() if m.key() else None,
                    "value": m.value(),
                    "headers": {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])},
                    "partition": m.partition(),
                    "offset": m.offset(),
                })
        finally:
            c.close()
        return out

    def committed(self):
        """Committed offsets of the ingest group on the raw topic: {partition: offset}."""
        c = Consumer({"bootstrap.servers": brokers(), "group.id": self.group})
        md = c.list_topics(self.raw, timeout=10)
        tps = [TopicPartition(self.raw, p) for p in md.topics[self.raw].partitions]
        res = {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
        c.close()
        return res

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        admin = AdminClient({"bootstrap.servers": brokers()})
        for f in admin.delete_topics([self.raw, self.enriched, self.dlq]).values():
            try:
                f.result(30)
            except Exception:
                pass
        # FORCE ends our own sessions; an autovacuum worker (a superuser
        # process we may not signal) can still hold the database for a moment.
        con = psycopg2.connect(admin_dsn())
        con.autocommit = True
        for attempt in range(20):
            try:
                con.cursor().execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.dbname)
                break
            except psycopg2.Error:
                time.sleep(0.5)
        con.close()


def free_port():
    """A loopback TCP port free at the moment of asking."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(url, timeout=10):
    """(status, body text, headers) of GET url, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def log_lines(p):
    """The JSON log lines of a process (every line must be JSON)."""
    out = []
    with open(p.logfile, "rb") as f:
        for raw in f:
            raw = raw.strip()
            if raw:
                out.append(json.loads(raw))
    return out


def wait_log(p, predicate, timeout=60):
    """Wait until a log line satisfies predicate; returns it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(p.logfile, "rb") as f:
            for raw in f:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if predicate(line):
                    return line
        if p.poll() is not None:
            raise AssertionError("process exited (%s) while waiting; log:\n%s" %
                                 (p.returncode, open(p.logfile).read()[-4000:]))
        time.sleep(0.1)
    raise AssertionError("timeout waiting for log line; log:\n" + open(p.logfile).read()[-4000:])


def wait_until(fn, timeout=60, interval=0.2, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timeout waiting for " + what)
