"""Security: the least-privilege database role of deploy/postgres-roles.sql
runs the service once the owner applied the migrations; secrets never reach
a log line or --print-config (DSN passwords in every libpq form, librdkafka
passwords even with debug=all)."""

import os
import subprocess
import uuid

import psycopg2
import pytest

import nwlib
from nwlib import Env, free_port, log_lines, wait_log, wait_until

SAMPLE = os.path.join(nwlib.FIXTURES, "sample-feed")
ROLES_SQL = os.path.join(nwlib.SOURCE, "deploy", "postgres-roles.sql")


def superuser_socket():
    """The local cluster's unix socket directory and port (deploy/local/postgres.sh:
    trust for the cluster owner's socket, reachable by root or that user)."""
    state = os.environ.get("NW_STATE_DIR", os.path.join(nwlib.SOURCE, ".local"))
    sock = os.path.join(os.path.realpath(os.path.join(state, "pg")), "run")
    port = os.environ.get("NW_PG_PORT", "55432")
    if not os.path.isdir(sock):
        pytest.fail("no local PostgreSQL socket in %s (deploy/local/postgres.sh)" % sock)
    return sock, port


@pytest.fixture
def roles(request):
    e = Env(request.node.name)
    tag = uuid.uuid4().hex[:8]
    r = {"db": "nwt_roles_" + tag, "owner": "nwt_owner_" + tag, "app": "nwt_app_" + tag,
         "owner_password": "own-" + uuid.uuid4().hex, "app_password": "app-" + uuid.uuid4().hex}
    sock, port = superuser_socket()
    args = ["psql", "-X", "-q", "-h", sock, "-p", port, "-U", "postgres", "-d", "postgres"]
    for k, v in r.items():
        args += ["-v", "%s=%s" % (k, v)]
    res = subprocess.run(args + ["-f", ROLES_SQL], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    r["env"] = e
    r["dsn"] = lambda who: "postgresql://%s:%s@127.0.0.1:%s/%s" % (
        r[who], r[who + "_password"], port, r["db"])
    yield r
    e.close()
    con = psycopg2.connect(host=sock, port=port, user="postgres", dbname="postgres")
    con.autocommit = True
    cur = con.cursor()
    cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % r["db"])
    cur.execute('DROP ROLE IF EXISTS "%s"' % r["app"])
    cur.execute('DROP ROLE IF EXISTS "%s"' % r["owner"])
    con.close()


def test_runtime_role_runs_the_service(roles):
    env = roles["env"]
    # 1. the owner applies the migrations
    p = env.start_ingest(name="owner", NEWSWIRE_PG_DSN=roles["dsn"]("owner"))
    wait_log(p, lambda l: l.get("msg") == "consuming", timeout=60)
    assert env.stop(p) == 0
    # 2. the runtime role runs the pipeline: items, outbox, events, dead letters
    p = env.start_ingest(name="app", NEWSWIRE_PG_DSN=roles["dsn"]("app"))
    wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
    env.feed(SAMPLE)
    events = env.read(env.enriched, 5, timeout=60)
    assert len(events) == 5 and len(env.read(env.dlq, 1, timeout=30)) == 1
    wait_until(lambda: sum(v for v in env.committed().values() if v > 0) == 6, timeout=30,
               what="offsets committed")
    assert env.stop(p) == 0
    assert not [l for l in log_lines(p) if l.get("level") == "error"]
    # 3. and can do nothing else
    con = psycopg2.connect(roles["dsn"]("app"))
    con.autocommit = True
    cur = con.cursor()
    cur.execute("SELECT count(*), bool_and(sent_at IS NOT NULL) FROM outbox")
    assert cur.fetchone() == (4, True)
    for stmt in ("CREATE TABLE nwt_x (a int)", "DROP TABLE outbox", "TRUNCATE outbox",
                 "ALTER TABLE stories ADD COLUMN x int", "CREATE INDEX nwt_i ON outbox (body)",
                 "CREATE FUNCTION nwt_f() RETURNS int LANGUAGE sql AS 'SELECT 1'"):
        with pytest.raises(psycopg2.Error) as e:
            cur.execute(stmt)
        assert e.value.pgcode in ("42501", "42P01") or "owner" in str(e.value), (stmt, e.value)
    con.close()


SECRETS = [
    "postgresql://u:pw1SECRET@127.0.0.1:1/db",
    "host=127.0.0.1 port=1 password=pw2SECRET user=u",
    "postgresql://u@127.0.0.1:1/db?password=pw3SECRET&sslmode=disable",
    "host=127.0.0.1 port=1 password='pw4 SECRET\\' x' user=u",
    "postgresql://u@127.0.0.1:1/db?sslpassword=pw5SECRET",
    "host=127.0.0.1 port=1 sslpassword=pw6SECRET password = pw7SECRET dbname=x",
]


@pytest.mark.parametrize("dsn", SECRETS)
def test_dsn_password_never_printed(dsn, tmp_path):
    env = dict(os.environ, NEWSWIRE_PG_DSN=dsn, NEWSWIRE_HTTP_ADDR="",
               NEWSWIRE_KAFKA_BROKERS=nwlib.brokers())
    ingest = os.path.join(nwlib.BIN, "newswire-ingest")
    r = subprocess.run([ingest, "--print-config"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "pg.dsn" in r.stdout
    assert "SECRET" not in r.stdout + r.stderr, r.stdout
    # the start-up log names the database it cannot reach, without the password
    r = subprocess.run([ingest], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "starting" in r.stderr and "SECRET" not in r.stdout + r.stderr, r.stderr


def test_kafka_secrets_never_logged(tmp_path):
    item = tmp_path / "x.json"
    item.write_text("{}")
    env = dict(os.environ, NEWSWIRE_KAFKA__SASL_PASSWORD="kpw1SECRET",
               NEWSWIRE_KAFKA__SSL_KEY_PASSWORD="kpw2SECRET",
               NEWSWIRE_KAFKA_BROKERS=nwlib.brokers())
    feed = os.path.join(nwlib.BIN, "newswire-feed")
    r = subprocess.run([feed, "--print-config"], env=env, capture_output=True, text=True, timeout=30)
    assert "kafka.opt.sasl.password = ***" in r.stdout and "SECRET" not in r.stdout
    # librdkafka's own configuration dump (debug=all) redacts its sensitive properties
    r = subprocess.run([feed, "--log-level", "debug", "--kafka-opt", "debug=all",
                        "--kafka-opt", "security.protocol=sasl_plaintext",
                        "--kafka-opt", "sasl.mechanisms=PLAIN", "--kafka-opt", "sasl.username=u",
                        "--kafka-opt", "socket.timeout.ms=3000", str(item)],
                       env=env, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert "sasl.password = [redacted]" in out, out[-2000:]
    assert "SECRET" not in out


PG_BIN = os.environ.get("NW_PG_BIN", "/usr/lib/postgresql/15/bin")


def openssl(d, *args):
    return subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)


def make_certificates(d):
    """ca.pem, a CA made here, and server.crt/server.key, the certificate it
    signed for localhost and 127.0.0.1, in directory d."""
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=newswire test CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
            "server.key", "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    os.chmod(d / "server.key", 0o600)


@pytest.fixture
def tls_cluster():
    """A throwaway PostgreSQL cluster that accepts TLS connections only, with
    a server certificate signed by a CA made here."""
    import pathlib
    import shutil
    import tempfile
    top = pathlib.Path(tempfile.mkdtemp(prefix="nwt-pgtls-"))  # /tmp: postgres can enter it
    d = top / "pgtls"
    d.mkdir()
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    make_certificates(d)
    if run_as:
        for p in (top, d):
            os.chmod(p, 0o755)
        subprocess.run(["chown", "-R", "postgres:postgres", str(d)], check=True)
    port = free_port()
    subprocess.run(run_as + [PG_BIN + "/initdb", "-D", str(d / "data"), "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    with open(d / "data" / "postgresql.conf", "a") as f:
        f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\nfsync = off\n"
                % (port, d, d / "server.crt", d / "server.key"))
    (d / "data" / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n")
    subprocess.run(run_as + [PG_BIN + "/pg_ctl", "start", "-D", str(d / "data"), "-w", "-s",
                             "-l", str(d / "log")], check=True, capture_output=True)
    try:
        yield {"port": port, "ca": str(d / "ca.pem")}
    finally:
        subprocess.run(run_as + [PG_BIN + "/pg_ctl", "stop", "-D", str(d / "data"), "-m",
                                 "immediate", "-w", "-s"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def test_pg_tls(tls_cluster):
    port, ca = tls_cluster["port"], tls_cluster["ca"]
    plain = "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable" % port
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(plain)  # hostnossl ... reject
    dsn = ("host=localhost port=%d user=postgres dbname=postgres sslmode=verify-full sslrootcert=%s"
           % (port, ca))
    e = Env("pgtls")
    try:
        p = e.start_ingest(NEWSWIRE_PG_DSN=dsn)
        wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
        e.feed(SAMPLE)
        assert len(e.read(e.enriched, 5, timeout=60)) == 5
        con = psycopg2.connect(dsn)
        cur = con.cursor()
        cur.execute("SELECT count(*) FROM item_versions")
        assert cur.fetchone() == (4,)
        cur.execute("SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                    " WHERE a.application_name = 'newswire'")
        rows = cur.fetchall()
        assert rows and all(ssl for ssl, _ in rows), rows
        con.close()
        assert e.stop(p) == 0
        # a CA that did not sign the server's certificate: refused, never downgraded
        bad = dsn.replace("sslrootcert=" + ca, "sslrootcert=/etc/ssl/certs/ca-certificates.crt")
        p = e.start_ingest(name="badca", NEWSWIRE_PG_DSN=bad)
        assert p.wait(60) == 2
        assert "certificate verify failed" in open(p.logfile).read()
    finally:
        e.close()


KAFKA_SASL_USER = "newswire"


@pytest.fixture
def kafka_sasl_ssl(tmp_path):
    """A throwaway broker (deploy/local/kafka.sh with its own state and ports)
    with a SASL_SSL listener, the way hosted Kafka is reached: TLS with a
    certificate signed by a CA made here, SASL/PLAIN user and password. Its
    PLAINTEXT listener is the test's own way in (topics, reading)."""
    import secrets
    d = tmp_path / "kafka-tls"
    d.mkdir()
    make_certificates(d)
    store_pw = secrets.token_hex(8)
    openssl(d, "pkcs12", "-export", "-in", "server.crt", "-inkey", "server.key", "-certfile",
            "ca.pem", "-name", "broker", "-out", "broker.p12", "-passout", "pass:" + store_pw)
    plain, controller, secure = free_port(), free_port(), free_port()
    password = secrets.token_hex(12)
    (d / "extra.properties").write_text("\n".join([
        "listeners=PLAINTEXT://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
        % (plain, secure, controller),
        "advertised.listeners=PLAINTEXT://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d" % (plain, secure),
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain."
        'PlainLoginModule required user_%s="%s";' % (KAFKA_SASL_USER, password),
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security."
        "scram.ScramLoginModule required;",
        "ssl.keystore.type=PKCS12",
        "ssl.keystore.location=%s" % (d / "broker.p12"),
        "ssl.keystore.password=" + store_pw,
        "ssl.key.password=" + store_pw, ""]))
    script = os.path.join(nwlib.SOURCE, "deploy", "local", "kafka.sh")
    benv = dict(os.environ, NW_KAFKA_WORK=str(d / "state"), NW_KAFKA_PORT=str(plain),
                NW_KAFKA_CONTROLLER_PORT=str(controller),
                NW_KAFKA_EXTRA_PROPERTIES=str(d / "extra.properties"),
                NW_KAFKA_HEAP_OPTS="-Xms128m -Xmx384m",
                NW_KAFKA_SCRAM="SCRAM-SHA-512=[name=%s,password=%s]" % (KAFKA_SASL_USER, password))
    r = subprocess.run(["bash", script, "start"], env=benv, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield {"plain": "127.0.0.1:%d" % plain, "secure": "127.0.0.1:%d" % secure,
               "password": password, "ca": str(d / "ca.pem")}
    finally:
        subprocess.run(["bash", script, "stop"], env=benv, capture_output=True, timeout=120)


def test_kafka_tls_and_sasl(kafka_sasl_ssl, monkeypatch):
    """The service and the feed reach Kafka over TLS with SASL, PLAIN and
    SCRAM-SHA-512 (every librdkafka property through NEWSWIRE_KAFKA__*); a
    wrong password or a CA that did not sign the broker's certificate stops
    the start with the reason, never a downgrade."""
    k = kafka_sasl_ssl
    monkeypatch.setenv("NEWSWIRE_KAFKA_BROKERS", k["plain"])  # the test's topics and reads
    secure = {"NEWSWIRE_KAFKA_BROKERS": k["secure"],
              "NEWSWIRE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
              "NEWSWIRE_KAFKA__SASL_MECHANISMS": "PLAIN",
              "NEWSWIRE_KAFKA__SASL_USERNAME": KAFKA_SASL_USER,
              "NEWSWIRE_KAFKA__SASL_PASSWORD": k["password"],
              "NEWSWIRE_KAFKA__SSL_CA_LOCATION": k["ca"]}
    e = Env("kafkatls")
    try:
        p = e.start_ingest(**secure)
        wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
        e.feed(SAMPLE, **secure)
        assert len(e.read(e.enriched, 5, timeout=60)) == 5
        assert len(e.read(e.dlq, 1, timeout=30)) == 1
        wait_until(lambda: e.sql("SELECT count(*) FROM item_versions") == [(4,)], timeout=30,
                   what="4 versions stored")
        assert e.stop(p) == 0
        assert k["password"] not in open(p.logfile).read()
        # SCRAM (hosted Kafka's other usual mechanism): the same listener, a second feed
        scram = dict(secure, NEWSWIRE_KAFKA__SASL_MECHANISMS="SCRAM-SHA-512")
        p = e.start_ingest(name="scram", **scram)
        wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
        e.feed(os.path.join(SAMPLE, "03-afp-chips.xml"), **scram)  # a re-send: one more event
        assert len(e.read(e.enriched, 6, timeout=60)) == 6
        assert e.stop(p) == 0
        # plaintext to the TLS listener: no answer the client accepts
        r = e.feed(SAMPLE, check=False, NEWSWIRE_KAFKA_BROKERS=k["secure"],
                   NEWSWIRE_KAFKA__SOCKET_TIMEOUT_MS="5000", NEWSWIRE_KAFKA__MESSAGE_TIMEOUT_MS="5000")
        assert r.returncode != 0
        for name, bad, reason in (
                ("badpassword", {"NEWSWIRE_KAFKA__SASL_PASSWORD": "not-" + k["password"]},
                 "Authentication failed"),
                ("badca", {"NEWSWIRE_KAFKA__SSL_CA_LOCATION": "/etc/ssl/certs/ca-certificates.crt"},
                 "certificate verify failed")):
            p = e.start_ingest(name=name, **dict(secure, **bad))
            assert p.wait(60) == 2, name
            log = open(p.logfile).read()
            assert reason in log, log[-3000:]
            assert "Kafka unreachable at start" in log
    finally:
        e.close()
