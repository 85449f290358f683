"""Fault: the PostgreSQL server the service writes to turns read-only in the
middle of the replay, as an old primary does after a failover, while another
server of the DSN's host list accepts writes
(host=A,B target_session_attrs=read-write). Every write on the old
connection fails with SQLSTATE 25006; the service must not retry on that
connection forever but reconnect, which lets libpq pick the writable server.

Two throwaway clusters stand for the two servers (no replication between
them: a story begun on A continues on B as a new story there, so the audit
checks that every version is stored on A or B and every outbox event of both
is on the enriched topic, not the event kinds)."""

import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import psycopg2
import pytest

from faultlib import Replay, log_msgs, wait_log
from nwlib import free_port

PG_BIN = os.environ.get("NW_PG_BIN", "/usr/lib/postgresql/15/bin")
RUN_AS = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Cluster:
    def __init__(self, top, name):
        self.dir = top / name
        self.dir.mkdir()
        if RUN_AS:
            subprocess.run(["chown", "postgres:postgres", str(self.dir)], check=True)
        self.port = free_port()
        subprocess.run(RUN_AS + [PG_BIN + "/initdb", "-D", str(self.dir / "data"), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True)
        conf = ("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                "fsync = off\nshared_buffers = 64MB\n" % (self.port, self.dir))
        subprocess.run(RUN_AS + ["sh", "-c", "cat >> '%s'" % (self.dir / "data" / "postgresql.conf")],
                       input=conf.encode(), check=True)
        subprocess.run(RUN_AS + [PG_BIN + "/pg_ctl", "start", "-D", str(self.dir / "data"), "-w", "-s",
                                 "-l", str(self.dir / "log")], check=True, capture_output=True)
        self.dsn = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port

    def sql(self, q):
        con = psycopg2.connect(self.dsn)
        con.autocommit = True
        try:
            cur = con.cursor()
            cur.execute(q)
            return cur.fetchall() if cur.description else []
        finally:
            con.close()

    def stop(self):
        subprocess.run(RUN_AS + [PG_BIN + "/pg_ctl", "stop", "-D", str(self.dir / "data"), "-m",
                                 "immediate", "-w", "-s"], capture_output=True)


@pytest.fixture
def clusters():
    top = pathlib.Path(tempfile.mkdtemp(prefix="nwt-failover-"))
    os.chmod(top, 0o755)
    made = []
    try:
        made.append(Cluster(top, "a"))
        made.append(Cluster(top, "b"))
        yield made
    finally:
        for c in made:
            c.stop()
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def replay():
    r = Replay("failover", seed=707, items=5000)
    yield r
    r.close()


def test_primary_turns_read_only(replay, clusters):
    a, b = clusters
    dsn = ("host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=postgres"
           " target_session_attrs=read-write connect_timeout=5" % (a.port, b.port))
    # the standby-to-be gets the schema first (in real life: replication)
    p = replay.start("b-migrate", NEWSWIRE_PG_DSN=b.dsn)
    wait_log(p, lambda l: l.get("msg") == "consuming", timeout=60)
    assert replay.env.stop(p) == 0
    replay.send_feed()
    p = replay.start(NEWSWIRE_PG_DSN=dsn)

    def stored(c):
        try:
            return c.sql("SELECT count(*) FROM item_versions")[0][0]
        except psycopg2.errors.UndefinedTable:  # not migrated yet
            return 0

    t0 = time.time()
    while stored(a) < 1000:
        assert time.time() - t0 < 120 and p.poll() is None
        time.sleep(0.2)
    a.sql("ALTER SYSTEM SET default_transaction_read_only = on")
    a.sql("SELECT pg_reload_conf()")
    t_fail = time.time()
    at = stored(a)
    while stored(b) == 0:
        assert p.poll() is None, "newswire-ingest exited"
        assert time.time() - t_fail < 90, "no write reached the writable server B in 90 s"
        time.sleep(0.2)
    switch_s = round(time.time() - t_fail, 1)
    # every message consumed and committed (the outbox check of wait_finished
    # reads the shared database, not A and B)
    end = replay.raw_end()
    t1 = time.time()
    while any(replay.env.committed().get(k, -1) < v for k, v in end.items()):
        assert p.poll() is None and time.time() - t1 < 300
        time.sleep(1)
    assert replay.env.stop(p, timeout=30) == 0
    codes = {l.get("code") for l in log_msgs(p) if l.get("msg") == "database unavailable, retrying"}
    assert "25006" in codes

    # audit over A and B
    versions = set()
    outbox = set()
    for c in (a, b):
        versions |= set(c.sql("SELECT provider, story_id, version FROM item_versions"))
        outbox |= {r[0] for r in c.sql("SELECT event_id::text FROM outbox")}
    # B's outbox is all marked sent. A's last batch may stay unmarked there: its
    # events were published, then marking them sent met the read-only server
    # (with replication B's sweeper would see those rows; here they must simply
    # be on the topic, like every other event).
    assert b.sql("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == [(0,)]
    lost = [v for v in replay.feed.versions if v not in versions]
    events = replay.read_topic(replay.env.enriched)
    seen = {e["headers"].get("ce_id") for e in events}
    dlq = replay.read_topic(replay.env.dlq, want_values=True)
    replay.report.update({"faults": [{"what": "server A read-only (ALTER SYSTEM, reload)",
                                      "at_s": round(t_fail - replay.t0, 1), "stored_on_a": at}],
                          "recovery_s": {"value": switch_s, "what": "A read-only to the first write on B"},
                          "items_lost": len(lost), "events_lost": len(outbox - seen),
                          "events_published": len(events),
                          "stored_on_b": stored(b), "dead_letters": len(dlq)})
    replay.write_report()
    assert not lost, lost[:5]
    assert outbox <= seen
    assert {d["value"] for d in dlq} == set(replay.feed.bad)
