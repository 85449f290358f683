"""Start-up behaviour users rely on: --help, configuration errors, unreachable
services, migrations when two replicas start at once."""

import os
import subprocess
import time

import pytest

import nwlib
from nwlib import Env, wait_log

INGEST = os.path.join(nwlib.BIN, "newswire-ingest")
FEED = os.path.join(nwlib.BIN, "newswire-feed")


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


def run(args, env=None, timeout=60):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_setting():
    r = run([INGEST, "--help"])
    assert r.returncode == 0
    for name in ["kafka.brokers", "pg.dsn", "group.id", "topic.raw", "topic.enriched", "topic.dlq",
                 "batch.size", "batch.wait.ms", "shutdown.timeout.ms", "retry.max.ms", "http.addr",
                 "log.level", "migrations.dir"]:
        env_name = "NEWSWIRE_" + name.upper().replace(".", "_")
        flag = "--" + name.replace(".", "-")
        assert env_name in r.stdout and flag in r.stdout, name
    assert "--kafka-opt" in r.stdout
    r = run([INGEST, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("newswire-ingest ")
    r = run([FEED, "--help"])
    assert r.returncode == 0 and "NEWSWIRE_TOPIC_RAW" in r.stdout


def test_bad_values_are_refused_with_the_setting_name():
    r = run([INGEST, "--batch-size=lots"])
    assert r.returncode == 2 and "batch.size" in r.stderr
    e = dict(os.environ, NEWSWIRE_LOG_LEVEL="chatty")
    r = run([INGEST], env=e)
    assert r.returncode == 2 and "log.level" in r.stderr and "NEWSWIRE_LOG_LEVEL" in r.stderr
    r = run([INGEST, "--no-such-option"])
    assert r.returncode == 2 and "--no-such-option" in r.stderr
    r = run([INGEST, "--kafka-opt", "no.such.librdkafka.property=1",
             "--pg-dsn", nwlib.admin_dsn()])
    assert r.returncode == 2 and "no.such.librdkafka.property" in r.stderr


def test_config_file_and_precedence(tmp_path):
    cfg = tmp_path / "newswire.conf"
    cfg.write_text("# comment\nbatch.size = 77\nbatch.wait.ms = 11\nlog.level = debug\n"
                   "pg.dsn = postgresql://u:hunter2@db.example/x\nkafka.opt.socket.timeout.ms = 1234\n")
    e = dict(os.environ, NEWSWIRE_BATCH_SIZE="88", NEWSWIRE_BATCH_WAIT_MS="22")
    e.pop("NEWSWIRE_PG_DSN", None)
    r = run([INGEST, "--config", str(cfg), "--batch-wait-ms=33", "--print-config"], env=e)
    assert r.returncode == 0, r.stderr
    got = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
    assert got["batch.size"] == "88  # NEWSWIRE_BATCH_SIZE"          # env beats file
    assert got["batch.wait.ms"] == "33  # flag --batch-wait-ms"      # flag beats env
    assert got["log.level"].startswith("debug  # " + str(cfg))       # file beats default
    assert got["topic.raw"] == "wire.raw  # default"
    assert "hunter2" not in r.stdout and got["pg.dsn"].startswith("postgresql://u:***@db.example/x")
    assert got["kafka.opt.socket.timeout.ms"] == "1234"
    # an invalid value is refused even when another source would override it,
    # and the message names the setting and where the value came from
    e["NEWSWIRE_BATCH_SIZE"] = "notanumber"
    r = run([INGEST, "--config", str(cfg), "--print-config"], env=e)
    assert r.returncode == 2 and "batch.size" in r.stderr and "NEWSWIRE_BATCH_SIZE" in r.stderr
    cfg.write_text("batch.size = many\n")
    r = run([INGEST, "--config", str(cfg)])
    assert r.returncode == 2 and "batch.size" in r.stderr and str(cfg) in r.stderr
    cfg.write_text("no.such.setting = 1\n")
    r = run([INGEST, "--config", str(cfg)])
    assert r.returncode == 2 and "no.such.setting" in r.stderr


def test_secret_from_file_and_never_logged(env, tmp_path):
    secret = tmp_path / "dsn"
    secret.write_text(env.dsn + "\n")
    e = env.env()
    del e["NEWSWIRE_PG_DSN"]
    e["NEWSWIRE_PG_DSN_FILE"] = str(secret)
    e["NEWSWIRE_KAFKA_BROKERS"] = "127.0.0.1:1"
    r = run([INGEST], env=e, timeout=60)
    # got past PostgreSQL (the DSN from the file worked), stopped at Kafka
    assert r.returncode == 2 and "Kafka" in r.stderr
    assert "newswire:newswire@" not in r.stderr  # the password is redacted in logs


def test_unreachable_postgres_fails_fast():
    e = dict(os.environ, NEWSWIRE_PG_DSN="postgresql://newswire@127.0.0.1:1/newswire?connect_timeout=3")
    t = time.time()
    r = run([INGEST], env=e)
    assert r.returncode == 2
    assert "cannot connect to PostgreSQL" in r.stderr
    assert time.time() - t < 30


def test_unreachable_kafka_fails_fast(env):
    e = env.env(NEWSWIRE_KAFKA_BROKERS="127.0.0.1:1")
    t = time.time()
    r = run([INGEST], env=e)
    assert r.returncode == 2
    assert "no Kafka broker answered" in r.stderr
    assert time.time() - t < 40
    r = run([FEED, os.path.join(nwlib.FIXTURES, "sample-feed")], env=e)
    assert r.returncode == 2 and "no Kafka broker answered" in r.stderr


def test_two_replicas_migrate_at_once(env):
    a = env.start_ingest("a")
    b = env.start_ingest("b")
    for p in (a, b):
        wait_log(p, lambda l: l.get("msg") == "consuming", timeout=60)
    names = env.sql("SELECT name, count(*) FROM schema_migrations GROUP BY name ORDER BY name")
    files = sorted(f for f in os.listdir(os.path.join(nwlib.SOURCE, "schemas", "migrations")) if f.endswith(".sql"))
    assert names == [(f, 1) for f in files]
    # identifiers compare byte by byte whatever the database's collation (0006)
    ident = env.sql("""SELECT table_name || '.' || column_name, collation_name FROM information_schema.columns
                       WHERE table_schema = 'public' AND (table_name, column_name) IN (
                         ('stories', 'provider'), ('stories', 'story_id'), ('item_versions', 'provider'),
                         ('item_versions', 'story_id'), ('item_versions', 'version'), ('links', 'relation'),
                         ('pending_parts', 'pair_key')) ORDER BY 1""")
    assert len(ident) == 7 and all(c == "C" for _, c in ident), ident
    assert env.stop(a) == 0 and env.stop(b) == 0
