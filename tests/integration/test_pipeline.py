"""The whole pipeline on the real broker and the real database: raw items in,
rows in PostgreSQL, enriched events and dead letters out."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import nwlib
from nwlib import Env, log_lines, wait_log, wait_until

SAMPLE = os.path.join(nwlib.FIXTURES, "sample-feed")

AP_STORY = "tag:ap.org,2011:0f3e2a9b8c7d4e5fa1b2c3d4e5f60718"
RTR_STORY = "tag:reuters.com,2026:newsml_L8N3MX0AB"
AFP_STORY = "urn:newsml:afp.com:20261104T093500Z:TX-PAR-QZK42"


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


def ingest_ready(env, **extra):
    p = env.start_ingest(**extra)
    wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
    return p


def by_type(events):
    out = {}
    for e in events:
        out.setdefault(e["headers"]["ce_type"], []).append(e)
    return out


def test_sample_feed_end_to_end(env):
    p = ingest_ready(env)
    r = env.feed(SAMPLE)
    assert "delivered 6 of 6 messages" in r.stdout

    events = env.read(env.enriched, 5, timeout=60)
    dlq = env.read(env.dlq, 1, timeout=30)

    # -- PostgreSQL: exactly the five distinct versions, once each ------------
    rows = env.sql("""SELECT provider, story_id, version, version_order, format, edit_status,
                             pubstatus, is_news, headline, source_topic
                        FROM item_versions ORDER BY provider, story_id, version_order""")
    assert rows == [
        ("afp", AFP_STORY, "1", 1, "afp-newsml-1.2", "new", "usable", True,
         "Dutch chip supplier to build 2-billion-euro plant", env.raw),
        ("ap", AP_STORY, "0", 0, "ap-media-json", "new", "usable", True,
         "Floodwaters close bridges as Millbrook River crests", env.raw),
        ("ap", AP_STORY, "1", 1, "ap-media-json", "update", "usable", True,
         "Floodwaters close bridges as Millbrook River crests", env.raw),
        ("reuters", RTR_STORY, "1871654321", 1871654321, "reuters-newsml-g2", "new", "usable", True,
         "Baltic central bank holds rates, signals cut in early 2027", env.raw),
    ]  # AP v0, AP v1, Reuters, AFP: the redelivery added nothing

    stories = env.sql("""SELECT s.provider, s.story_id, v.version, s.pubstatus, s.firstcreated::text
                           FROM stories s JOIN item_versions v ON v.version_pk = s.current_version_pk
                          ORDER BY s.provider""")
    assert stories == [
        ("afp", AFP_STORY, "1", "usable", "2026-11-04 09:34:55+00"),
        ("ap", AP_STORY, "1", "usable", "2026-11-04 14:15:00+00"),
        ("reuters", RTR_STORY, "1871654321", "usable", "2026-11-04 12:02:11+00"),
    ]
    # The stored ninjs is the normalized item, UTC times, story id as uri.
    ninjs = env.sql("SELECT ninjs FROM item_versions WHERE provider = 'ap' AND version = '1'")[0][0]
    assert ninjs["uri"] == AP_STORY
    assert ninjs["version"] == "1"
    assert ninjs["versioncreated"] == "2026-11-04T18:30:00Z"
    assert ninjs["located"] == "MILLBROOK, Ore."
    assert any(b["role"] == "main" and "state of emergency" in b["value"] for b in ninjs["bodies"])
    # The raw payload is kept exactly as delivered.
    raw = env.sql("SELECT raw FROM item_versions WHERE provider = 'afp'")[0][0]
    assert bytes(raw) == open(os.path.join(SAMPLE, "03-afp-chips.xml"), "rb").read()
    # The large values are lz4-compressed (migration 0005): pglz was the
    # write path's first PostgreSQL function in every profile.
    assert sorted(env.sql("""SELECT attrelid::regclass::text || '.' || attname, attcompression
                               FROM pg_attribute
                              WHERE (attrelid, attname) IN (('item_versions'::regclass, 'raw'),
                                    ('item_versions'::regclass, 'ninjs'), ('outbox'::regclass, 'body'),
                                    ('sim_fingerprints'::regclass, 'fp'),
                                    ('pending_parts'::regclass, 'raw'))""")) == [
        ("item_versions.ninjs", "l"), ("item_versions.raw", "l"), ("outbox.body", "l"),
        ("pending_parts.raw", "l"), ("sim_fingerprints.fp", "l")]
    methods = env.sql("""SELECT pg_column_compression(raw), pg_column_compression(ninjs)
                           FROM item_versions UNION ALL
                         SELECT pg_column_compression(body), NULL FROM outbox""")
    stored = [m for row in methods for m in row if m is not None]
    assert stored and set(stored) == {"lz4"}, methods  # the compressed ones, lz4 every one

    # -- events: one per stored version, plus the redelivery's original again --
    assert len(events) == 5, [e["headers"] for e in events]
    types = by_type(events)
    assert sorted(types) == ["newswire.item.new", "newswire.item.updated"]
    assert len(types["newswire.item.new"]) == 4
    ids = [e["headers"]["ce_id"] for e in events]
    outbox = env.sql("SELECT event_id::text, event_type, msg_key, sent_at IS NOT NULL FROM outbox")
    assert len(outbox) == 4
    assert all(sent for _, _, _, sent in outbox)
    assert sorted(set(ids)) == sorted(o[0] for o in outbox)
    rtr = [e for e in events if e["key"] == "reuters:" + RTR_STORY]
    assert len(rtr) == 2 and rtr[0]["headers"]["ce_id"] == rtr[1]["headers"]["ce_id"]
    assert rtr[0]["value"] == rtr[1]["value"]  # the original event, byte for byte

    for e in events:
        h = e["headers"]
        assert h["ce_specversion"] == "1.0"
        assert h["ce_source"] == "/newswire/ingest"
        assert h["content-type"] == "application/json"
        body = json.loads(e["value"])
        assert body["id"] == h["ce_id"] and body["type"] == h["ce_type"]
        assert e["key"] == body["provider"] + ":" + body["story_id"]
        assert h["ce_subject"] == body["story_id"]
        assert body["item"]["uri"] == body["story_id"]
        assert body["source"]["topic"] == env.raw

    # Both AP versions went to one partition, in version order.
    ap = [e for e in events if e["key"] == "ap:" + AP_STORY]
    assert [json.loads(e["value"])["version"] for e in sorted(ap, key=lambda e: e["offset"])] == ["0", "1"]
    assert len({e["partition"] for e in ap}) == 1
    upd = json.loads(types["newswire.item.updated"][0]["value"])
    assert upd["previous_version"]["version"] == "0"
    assert upd["links"][0]["relation"] == "previous_version"
    assert upd["links"][0]["version"] == "0"

    # -- the truncated item is a dead letter with its reason and origin -------
    assert len(dlq) == 1
    d = dlq[0]
    assert d["value"] == open(os.path.join(SAMPLE, "06-bad-truncated.xml"), "rb").read()
    h = d["headers"]
    assert h["__connect.errors.topic"] == env.raw
    assert int(h["__connect.errors.offset"]) >= 0
    assert h["__connect.errors.partition"].isdigit()
    assert h["newswire.error.class"] == "input"
    assert h["newswire.error.reason"]
    assert h["__connect.errors.stage"] == "parse"

    # -- offsets: everything consumed is committed after the work was done ----
    wait_until(lambda: sum(v for v in env.committed().values() if v > 0) == 6, timeout=30,
               what="offsets of all 6 messages committed")

    assert env.stop(p) == 0
    for line in log_lines(p):  # every log line is a JSON object with the basics
        assert {"time", "level", "msg"} <= set(line)


def test_kill_marks_every_version(env):
    p = ingest_ready(env)
    d = tempfile.mkdtemp()
    try:
        src = open(os.path.join(SAMPLE, "02-reuters-rates.xml")).read()
        v2 = src.replace('version="1871654321"', 'version="1871990000"') \
                .replace(":1871654321", ":1871990000") \
                .replace("2026-11-04T12:02:11.000Z</versionCreated>", "2026-11-04T13:00:00.000Z</versionCreated>")
        kill = v2.replace('version="1871990000"', 'version="1872000000"') \
                 .replace(":1871990000", ":1872000000") \
                 .replace("stat:usable", "stat:canceled").replace("edStat:N", "edStat:D")
        for name, text in (("a.xml", src), ("b.xml", v2), ("c.xml", kill)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        env.feed(d)
        events = env.read(env.enriched, 3, timeout=60)
    finally:
        shutil.rmtree(d)
    kinds = [json.loads(e["value"])["kind"] for e in sorted(events, key=lambda e: e["offset"])]
    assert kinds == ["new", "updated", "killed"]
    killed = [json.loads(e["value"]) for e in events if json.loads(e["value"])["kind"] == "killed"][0]
    assert [v["version"] for v in killed["removed_versions"]] == ["1871654321", "1871990000", "1872000000"]
    assert env.sql("SELECT DISTINCT pubstatus FROM item_versions") == [("canceled",)]
    assert env.sql("SELECT DISTINCT ninjs->>'pubstatus' FROM item_versions") == [("canceled",)]
    assert env.sql("SELECT pubstatus FROM stories") == [("canceled",)]
    env.stop(p)


def test_crash_between_commit_and_ack_still_publishes(env):
    """SIGKILL after the database commit and before the broker acknowledged
    the events: the restarted service must publish them (same ids)."""
    p = ingest_ready(env, NEWSWIRE_TEST_HOOK="pause-after-commit")
    env.feed(os.path.join(SAMPLE, "03-afp-chips.xml"))
    wait_log(p, lambda l: l.get("msg", "").startswith("test hook: paused after commit"), timeout=60)
    stored = env.sql("SELECT event_id::text, sent_at FROM outbox")
    assert len(stored) == 1 and stored[0][1] is None  # committed, not published
    assert env.read(env.enriched, 0, timeout=3, settle=2) == []
    p.send_signal(signal.SIGKILL)
    p.wait(10)

    p2 = ingest_ready(env)
    events = env.read(env.enriched, 1, timeout=60)
    assert [e["headers"]["ce_id"] for e in events] == [stored[0][0]]
    assert env.sql("SELECT count(*) FROM item_versions") == [(1,)]
    wait_until(lambda: env.sql("SELECT sent_at IS NOT NULL FROM outbox") == [(True,)], timeout=30,
               what="event marked sent")
    assert env.stop(p2) == 0


def test_dead_writers_events_are_swept_under_sustained_load(env, tmp_path):
    """A replica killed between its commit and its publish leaves its events
    unsent, and its input comes back to nobody (here a topic only it read).
    A replica that is never idle (a steady feed, as in a replay) still
    republishes them within outbox.sweep.s, and never republishes the events
    of its own batch, committed late (held up by a lock) and published right
    after its commit."""
    feed = str(tmp_path / "steady.ndjson")
    subprocess.run([sys.executable, os.path.join(nwlib.SOURCE, "tests", "tools", "genfeed.py"),
                    "--items", "2500", "--min-words", "40", "--max-words", "80", "--out", feed],
                   check=True)
    with open(feed, "rb") as f:
        lines = f.read().splitlines()
    b = ingest_ready(env, NEWSWIRE_OUTBOX_SWEEP_S="1", NEWSWIRE_BATCH_WAIT_MS="0")
    stop = threading.Event()
    sent = []

    def steady():  # 50 messages a second: never the 200 ms of nothing of an idle turn
        prod = Producer({"bootstrap.servers": nwlib.brokers(), "linger.ms": 0})
        for line in lines:
            if stop.is_set():
                break
            prod.produce(env.raw, value=line)
            prod.poll(0)
            sent.append(1)
            time.sleep(0.02)
        assert prod.flush(30) == 0

    # the dying replica's input waits in a topic of its own before it starts
    # (it reads from the earliest offset), its leader elected first
    other = "t." + env.tag + ".other"
    admin = AdminClient({"bootstrap.servers": nwlib.brokers()})
    admin.create_topics([NewTopic(other, 1, 1)])[other].result(30)
    wait_until(lambda: admin.list_topics(other, timeout=10).topics[other].partitions[0].leader >= 0,
               timeout=30, what="a leader for the new topic")
    with open(os.path.join(SAMPLE, "03-afp-chips.xml"), "rb") as f:
        env.produce(other, f.read())
    t = threading.Thread(target=steady)
    t.start()
    try:
        wait_log(b, lambda l: l.get("msg") == "batch done", timeout=60)
        # librdkafka 2.0.2 can leave a freshly assigned partition unfetched
        # for good when the coordinator answers its OffsetFetch with a
        # request-level error (confluentinc/librdkafka#5586), as it may just
        # after a broker restart (the fault tests run before this one): seen
        # here once in CI. Not what this test is about: a new process (still
        # before its commit, so nothing of it is stored) recovers at once.
        for attempt in range(3):
            a = env.start_ingest(name="dies", NEWSWIRE_TOPIC_RAW=other,
                                 NEWSWIRE_GROUP_ID=env.group + ".other",
                                 NEWSWIRE_TEST_HOOK="pause-after-commit")
            try:
                wait_log(a, lambda l: l.get("msg", "").startswith("test hook: paused after commit"),
                         timeout=30)
                break
            except AssertionError:
                stored = env.sql("SELECT count(*) FROM item_versions WHERE source_topic = %s",
                                 (other,))[0][0]
                # a session of this database waiting for a lock would be the
                # service's own doing, not the client library's
                waits = env.sql("SELECT a.pid, l.mode, l.relation::regclass::text, a.query"
                                "  FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                                " WHERE NOT l.granted AND a.datname = current_database()")
                assert not waits, waits
                if attempt == 2 or stored:
                    raise
                a.send_signal(signal.SIGKILL)
                a.wait(10)
        orphan = env.sql("SELECT o.event_id::text FROM outbox o JOIN item_versions v"
                         " USING (version_pk) WHERE v.source_topic = %s AND o.sent_at IS NULL",
                         (other,))
        assert len(orphan) == 1
        orphan = orphan[0][0]
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        wait_until(lambda: env.sql("SELECT sent_at IS NOT NULL FROM outbox WHERE event_id = %s",
                                   (orphan,)) == [(True,)],
                   timeout=20, what="the dead replica's event republished")
        assert t.is_alive(), "republished only once the steady feed had ended"
        # Hold b's next batch 3 s at its COPY into the outbox: its events are
        # 3 s old (> outbox.sweep.s) when it commits, and the sweep that runs
        # before they are published must leave them to the publish.
        con = psycopg2.connect(env.dsn)
        cur = con.cursor()
        cur.execute("LOCK TABLE outbox IN SHARE MODE")
        wait_until(lambda: env.sql("SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0] > 0,
                   timeout=20, what="a batch waiting for the lock")
        time.sleep(3)
        done = sum(1 for l in log_lines(b) if l.get("msg") == "batch done")
        con.commit()
        con.close()
        wait_until(lambda: sum(1 for l in log_lines(b) if l.get("msg") == "batch done") > done + 2,
                   timeout=30, what="batches after the lock")
    finally:
        stop.set()
        t.join()
        admin.delete_topics([other])
    wait_until(lambda: sum(v for v in env.committed().values() if v > 0) == len(sent),
               timeout=120, what="the steady feed stored")
    logs = log_lines(b)
    swept = sum(l["events"] for l in logs if l.get("msg") == "outbox sweep republished events")
    assert swept == 1  # the dead replica's event, none of b's own
    published = sum(l["events"] for l in logs if l.get("msg") == "batch done")
    events = env.read(env.enriched, published + 1, timeout=60, settle=2)
    assert len(events) == published + 1
    assert [e["headers"]["ce_id"] for e in events].count(orphan) == 1
    assert env.stop(b) == 0


def test_no_batch_wait_still_batches_a_backlog(env, tmp_path):
    """batch.wait.ms=0 (the default) sends a batch off with what has arrived,
    without waiting for more: light traffic is not held back. A backlog (a
    replay, a restart after an outage) still fills whole batches from what
    the consumer has fetched, not one transaction per message."""
    feed = str(tmp_path / "backlog.ndjson")
    subprocess.run([sys.executable, os.path.join(nwlib.SOURCE, "tests", "tools", "genfeed.py"),
                    "--items", "120", "--min-words", "50", "--max-words", "100", "--out", feed],
                   check=True)
    env.feed(feed)  # all of it waits in the raw topic before the consumer starts
    p = ingest_ready(env, NEWSWIRE_BATCH_WAIT_MS="0", NEWSWIRE_BATCH_SIZE="40")

    def sizes():
        return [l["messages"] for l in log_lines(p) if l.get("msg") == "batch done"]

    wait_until(lambda: sum(sizes()) == 120, timeout=60, what="120 messages stored")
    assert max(sizes()) == 40 and len(sizes()) <= 8, sizes()
    assert env.stop(p) == 0


def test_sigterm_drains_and_exits(env):
    p = ingest_ready(env, NEWSWIRE_SHUTDOWN_TIMEOUT_MS="10000")
    env.feed(SAMPLE)
    env.read(env.enriched, 5, timeout=60)
    wait_until(lambda: sum(v for v in env.committed().values() if v > 0) == 6, timeout=30,
               what="offsets committed")
    assert env.stop(p, timeout=15) == 0
    msgs = [l["msg"] for l in log_lines(p)]
    assert "shutting down" in msgs and "stopped" in msgs


def test_a_replica_stopping_right_after_another_leaves_the_group_cleanly(env):
    """A scale-down or a rolling restart: a replica stops just after another
    one that had joined beside it. The group hands the first one the other's
    partitions back while it closes; librdkafka 2.0.2 then hung in its close
    (librdkafka#4527) until the shutdown deadline (exit 3) without leaving the
    group, and a replica started next got no partition before that member's
    session timed out (45 s). The shutdown unsubscribes first now."""
    p = ingest_ready(env, NEWSWIRE_SHUTDOWN_TIMEOUT_MS="20000")
    env.feed(SAMPLE)
    env.read(env.enriched, 5, timeout=60)
    q = env.start_ingest(name="joining")
    wait_log(q, lambda l: l.get("msg") == "consuming", timeout=60)
    assert env.stop(q, timeout=30) == 0
    assert env.stop(p, timeout=30) == 0  # 3: the deadline passed in the close
    assert "stopped" in [l["msg"] for l in log_lines(p)]
    r = env.start_ingest(name="next")
    wait_until(lambda: any(l.get("msg") == "partitions assigned" and l["count"] == 4
                           for l in log_lines(r)), timeout=30, what="the next replica assigned")
    assert env.stop(r) == 0


UNFETCHED = "partition assigned but not fetched; assigning it again"


def test_a_partition_librdkafka_does_not_fetch_is_assigned_again(env):
    """librdkafka 2.0.2 can leave a freshly assigned partition unfetched for
    good (librdkafka#5586: a request-level error of its committed-offset
    fetch, seen here once after a broker restart): its messages would wait
    forever. The fetch watchdog assigns such a partition again. One broker
    cannot cause the fault, so the test hook makes librdkafka's statistics
    show partition 0 as not fetched until the watchdog acts; the
    reassignment itself is real, and nothing is lost or done twice."""
    fast = {"NEWSWIRE_KAFKA_FETCH_WATCHDOG_S": "3", "NEWSWIRE_KAFKA__STATISTICS_INTERVAL_MS": "500"}
    p = ingest_ready(env, NEWSWIRE_TEST_HOOK="unfetched-partition-0", **fast)
    line = wait_log(p, lambda l: l.get("msg") == UNFETCHED, timeout=30)
    assert (line["topic"], line["partition"]) == (env.raw, 0)
    env.feed(SAMPLE)
    # The feed's keys choose its partitions (and the bad file's key is its
    # path, which differs between checkouts): one item is put on partition 0
    # so that the stuck partition surely has something to deliver.
    with open(os.path.join(nwlib.FIXTURES, "formats", "ninjs", "v1.json"), "rb") as f:
        env.produce(env.raw, f.read(), key=b"ninjs:item-42", partition=0)
    assert len(env.read(env.enriched, 6, timeout=60)) == 6
    assert env.sql("SELECT count(*) FROM item_versions") == [(5,)]
    assert env.sql("SELECT source_partition FROM item_versions WHERE story_id = 'urn:example.org:news:item-42'") == [(0,)]
    wait_until(lambda: sum(v for v in env.committed().values() if v > 0) == 7, timeout=30,
               what="offsets of all 7 messages committed")
    assert env.committed()[0] >= 1  # partition 0, assigned again, was fetched and processed
    # Healthy partitions are never taken for stuck ones: not after the
    # recovery, not in a rebalance (a second replica joins and leaves).
    q = env.start_ingest(name="second", **fast)
    wait_until(lambda: any(l.get("msg") == "partitions assigned" and l["count"] > 0
                           for l in log_lines(q)), timeout=60, what="the second replica assigned")
    time.sleep(8)
    assert env.stop(q) == 0
    time.sleep(5)
    assert [l["msg"] for l in log_lines(p)].count(UNFETCHED) == 1
    assert UNFETCHED not in [l["msg"] for l in log_lines(q)]
    assert env.stop(p) == 0
