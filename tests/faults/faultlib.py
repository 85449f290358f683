"""Helpers of the fault tests: a 20,000-item synthetic feed with bad items,
the local services to break and mend, and the end-of-test audit (items,
events, dead letters) that every fault test ends with.

The tests break the local stack of deploy/local (deploy/local/postgres.sh,
deploy/local/kafka.sh): they must run alone (ctest runs tests serially), and
each restores the services in a `finally`. The scripts honour NW_STATE_DIR,
NW_PG_PORT, NW_KAFKA_PORT, so a developer can run the faults against a
private stack (see tests/faults/README.md)."""

import collections
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import psycopg2  # noqa: E402
from confluent_kafka import KafkaException, Consumer, TopicPartition  # noqa: E402

import genfeed  # noqa: E402
import nwlib  # noqa: E402
from nwlib import Env, wait_log, wait_until  # noqa: E402,F401

SOURCE = nwlib.SOURCE
OUT_DIR = os.path.join(SOURCE, "bench", "out", "faults")

ITEMS = int(os.environ.get("NW_FAULT_ITEMS", "20000"))
BAD = 8
# Small bodies: the faults are about delivery, not parsing speed.
MIN_WORDS, MAX_WORDS = 80, 200

# Settings of every replica in the fault tests. A SIGKILLed member stays in
# the group until its session times out: 6 s (the broker's minimum) instead
# of 45 s keeps a restart from waiting on the dead member for long. The sweep
# republishes events whose writer died, within the test.
FIRST_KINDS = {"new", "duplicate", "update_of", "near_duplicate"}

INGEST_ENV = {
    "NEWSWIRE_KAFKA__CONSUMER_SESSION_TIMEOUT_MS": "6000",
    "NEWSWIRE_KAFKA__CONSUMER_HEARTBEAT_INTERVAL_MS": "1000",
    "NEWSWIRE_OUTBOX_SWEEP_S": "10",
    "NEWSWIRE_SHUTDOWN_TIMEOUT_MS": "20000",
}


def local_script(name, *args, timeout=180):
    """Run deploy/local/<name> (postgres.sh, kafka.sh) with the caller's
    NW_* environment; raises on failure."""
    t0 = time.time()
    r = subprocess.run(["bash", os.path.join(SOURCE, "deploy", "local", name), *args],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s %s failed (%d): %s %s" % (name, " ".join(args), r.returncode,
                                                          r.stdout, r.stderr))
    return time.time() - t0


def require_local_stack():
    """The service tests stop and start the local PostgreSQL and Kafka: they
    must be the ones NEWSWIRE_PG_DSN / NEWSWIRE_KAFKA_BROKERS point at."""
    import pytest
    kport = os.environ.get("NW_KAFKA_PORT", "9092")
    pport = os.environ.get("NW_PG_PORT", "55432")
    if nwlib.brokers() != "127.0.0.1:" + kport or ":%s/" % pport not in nwlib.admin_dsn():
        pytest.skip("the fault tests stop the local stack of deploy/local; "
                    "NEWSWIRE_KAFKA_BROKERS/NEWSWIRE_PG_DSN point elsewhere")


def ensure_services():
    """Whatever a test did: PostgreSQL and Kafka (with its data) running."""
    errs = []
    for name, args in (("postgres.sh", ["start"]), ("kafka.sh", ["start", "--keep"])):
        try:
            local_script(name, *args)
        except Exception as e:  # keep going: restore the other one too
            errs.append(str(e))
    if errs:
        raise AssertionError("could not restore the local services: " + "; ".join(errs))


# ---- the feed -----------------------------------------------------------------



def ends_of(topic, attempts=30):
    """High watermarks of every partition of a topic. Right after a broker
    restart the leaders are still being elected (NOT_LEADER_FOR_PARTITION,
    LEADER_NOT_AVAILABLE): ask again for a while."""
    last = None
    for _ in range(attempts):
        c = Consumer({"bootstrap.servers": nwlib.brokers(), "group.id": "wm-" + uuid.uuid4().hex})
        try:
            md = c.list_topics(topic, timeout=10)
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in md.topics[topic].partitions}
        except KafkaException as e:
            last = e
            time.sleep(1)
        finally:
            c.close()
    raise last

class Feed:
    """genfeed's items (payloads kept for the audit) written as NDJSON."""

    def __init__(self, path, seed, items=ITEMS, bad=BAD):
        rows = genfeed.generate(items, bad, seed, MIN_WORDS, MAX_WORDS)
        self.path = path
        with open(path, "w") as f:
            for payload, *_ in rows:
                f.write(payload.replace("\n", " ") + "\n")
        self.messages = len(rows)
        # (provider, story_id, version) -> event kind, as genfeed's manifest
        self.versions = {}
        for _, p, s, v, k in rows:
            if p and k != "resend":
                assert (p, s, v) not in self.versions, "genfeed repeated a version"
                self.versions[(p, s, v)] = k
        # An exact re-send republishes its version's original event: one
        # more copy of that event id on the topic, by design.
        self.resends = sum(1 for *_, k in rows if k == "resend")
        self.bad = collections.Counter(
            payload.replace("\n", " ").encode() for payload, p, *_ in rows if p is None)


# ---- the replay under test ----------------------------------------------------------


class Replay:
    """One fault test: a private database and topics, the feed on the raw
    topic, replicas of newswire-ingest, and the figures of the report."""

    def __init__(self, name, seed, items=ITEMS):
        self.name = name
        self.env = Env("fault" + name, partitions=4)
        self.feed = Feed(os.path.join(self.env.logdir, "feed.ndjson"), seed, items=items)
        self.t0 = time.time()
        self.report = {"test": name, "items": items, "messages": self.feed.messages,
                       "feed_resends": self.feed.resends,
                       "bad_items": sum(self.feed.bad.values()),
                       "expected_versions": len(self.feed.versions), "faults": []}
        self.rng = random.Random(seed)

    def send_feed(self):
        t = time.time()
        r = self.env.feed(self.feed.path)
        assert "delivered %d of %d" % (self.feed.messages, self.feed.messages) in r.stdout, r.stdout
        self.report["feed_s"] = round(time.time() - t, 1)

    def start(self, name="ingest", **extra):
        e = dict(INGEST_ENV)
        e.update(extra)
        return self.env.start_ingest(name=name, **e)

    # -- progress ------------------------------------------------------------------

    def stored(self):
        """Versions in PostgreSQL, or None while it cannot be asked."""
        try:
            con = psycopg2.connect(self.env.dsn, connect_timeout=3)
            try:
                cur = con.cursor()
                cur.execute("SELECT count(*) FROM item_versions")
                return cur.fetchone()[0]
            finally:
                con.close()
        except psycopg2.Error:
            return None

    def wait_stored(self, at_least, timeout=180):
        return wait_until(lambda: (self.stored() or 0) >= at_least, timeout=timeout, interval=0.2,
                          what="%d versions stored" % at_least)

    def wait_progress(self, since_count, timeout=180):
        """Seconds until more than since_count versions are stored."""
        t = time.time()
        wait_until(lambda: (self.stored() or 0) > since_count, timeout=timeout, interval=0.1,
                   what="progress after the fault")
        return round(time.time() - t, 2)

    def raw_end(self):
        return ends_of(self.env.raw)

    def wait_finished(self, procs, timeout=300):
        """Every raw message consumed and committed, every outbox event sent."""
        end = self.raw_end()
        assert sum(end.values()) == self.feed.messages

        def done():
            for p in procs:
                if p.poll() is not None:
                    raise AssertionError("%s exited (%s) before the end; log %s" %
                                         (p.args, p.returncode, p.logfile))
            try:
                com = self.env.committed()
            except Exception:
                return False
            if any(com.get(p, -1) < off for p, off in end.items()):
                return False
            return self.env.sql("SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0

        wait_until(done, timeout=timeout, interval=1.0, what="all offsets committed, outbox sent")
        self.report["duration_s"] = round(time.time() - self.t0, 1)

    # -- the audit ---------------------------------------------------------------------

    def read_topic(self, topic, want_values=False, sample_check=0):
        """Everything on a topic, up to its high watermarks at call time."""
        c = Consumer({"bootstrap.servers": nwlib.brokers(), "group.id": "audit-" + uuid.uuid4().hex,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        try:
            ends = ends_of(topic)
            c.assign([TopicPartition(topic, p, 0) for p in ends])
            left = {p: e for p, e in ends.items() if e > 0}
            out = []
            deadline = time.time() + 120
            while left and time.time() < deadline:
                m = c.poll(0.5)
                if m is None or m.error():
                    continue
                h = {k: (v.decode(errors="replace") if v is not None else None)
                     for k, v in (m.headers() or [])}
                rec = {"headers": h, "key": m.key()}
                if want_values:
                    rec["value"] = m.value()
                if sample_check and len(out) % sample_check == 0:
                    nwlib.check_event(json.loads(m.value()))
                out.append(rec)
                if m.offset() + 1 >= left.get(m.partition(), 0):
                    left.pop(m.partition(), None)
            assert not left, "could not read %s to its end: %s" % (topic, left)
            return out
        finally:
            c.close()

    def audit(self):
        """Compare PostgreSQL and the topics with the feed; fill the report."""
        r = self.report
        want = self.feed.versions
        rows = self.env.sql("SELECT provider, story_id, version, count(*) FROM item_versions"
                            " GROUP BY 1, 2, 3")
        stored = {(p, s, v): n for p, s, v, n in rows}
        r["items_stored"] = sum(stored.values())
        r["items_lost"] = len([k for k in want if k not in stored])
        r["items_stored_twice"] = len([k for k, n in stored.items() if n > 1])
        r["items_unexpected"] = len([k for k in stored if k not in want])

        ob = self.env.sql("""SELECT o.event_id::text, v.provider, v.story_id, v.version, o.event_type
                               FROM outbox o JOIN item_versions v USING (version_pk)""")
        outbox = {}
        kinds = collections.Counter()
        for eid, p, s, v, t in ob:
            kind = t.replace("newswire.item.", "")
            # A story's first version is "new", or names what its content
            # repeats (genfeed's rewrites of another agency's story).
            kinds[(p, s, v, "new" if kind in FIRST_KINDS else kind)] += 1
            outbox[eid] = (p, s, v)
        expected = collections.Counter({(p, s, v, k): 1 for (p, s, v), k in want.items()})
        r["outbox_events"] = len(ob)
        r["outbox_missing"] = sum((expected - kinds).values())
        r["outbox_unexpected"] = sum((kinds - expected).values())

        events = self.read_topic(self.env.enriched, sample_check=200)
        seen = collections.Counter(e["headers"].get("ce_id") for e in events)
        r["events_published"] = len(events)
        r["events_lost"] = len([eid for eid in outbox if eid not in seen])
        r["events_unknown"] = len([eid for eid in seen if eid not in outbox])
        # Repeats beyond the feed's own re-sends (each republishes its original
        # event): what the fault cost subscribers, who drop them by ce_id.
        r["feed_resends"] = self.feed.resends
        r["event_repeats"] = len(events) - len(seen) - self.feed.resends

        dlq = self.read_topic(self.env.dlq, want_values=True)
        got = collections.Counter(d["value"] for d in dlq)
        r["dead_letters"] = len(dlq)
        r["dead_letters_missing"] = sum((self.feed.bad - got).values())
        r["dead_letters_unexpected"] = len([v for v in got if v not in self.feed.bad])
        r["dead_letter_repeats"] = sum((got - self.feed.bad).values())
        r["dead_letter_classes"] = dict(collections.Counter(
            d["headers"].get("newswire.error.class") for d in dlq))
        self.write_report()
        return r

    def check(self):
        """The audit's verdict: nothing lost, nothing stored twice, only the
        bad items dead-lettered."""
        r = self.audit()
        print(json.dumps(r, indent=1))
        assert r["items_lost"] == 0, r
        assert r["items_stored_twice"] == 0 and r["items_unexpected"] == 0, r
        assert r["outbox_missing"] == 0 and r["outbox_unexpected"] == 0, r
        assert r["events_lost"] == 0 and r["events_unknown"] == 0, r
        assert r["dead_letters_missing"] == 0 and r["dead_letters_unexpected"] == 0, r
        assert set(r["dead_letter_classes"]) == {"input"}, r

    def write_report(self):
        os.makedirs(OUT_DIR, exist_ok=True)
        with open(os.path.join(OUT_DIR, self.name + ".json"), "w") as f:
            json.dump(self.report, f, indent=1, sort_keys=True)

    def close(self):
        self.env.close()


def log_msgs(p):
    """The log lines of a process that are JSON (librdkafka may add others)."""
    out = []
    with open(p.logfile, "rb") as f:
        for raw in f:
            try:
                out.append(json.loads(raw))
            except ValueError:
                pass
    return out


def first_batch_after(p, t_unix):
    """Seconds from t_unix to the first "batch done" logged after it, or None."""
    for line in log_msgs(p):
        if line.get("msg") != "batch done":
            continue
        t = time.mktime(time.strptime(line["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        t += float("0." + line["time"][20:23])
        if t >= t_unix:
            return round(t - t_unix, 2)
    return None


def kill(p):
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait(10)


def digest(b):
    return hashlib.sha256(b).hexdigest()[:12]
