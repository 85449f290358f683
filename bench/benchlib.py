"""Helpers of bench/bench.py: private databases and topics, CPU and memory of
processes from /proc, newswire-ingest runs watched through their log, a
throwaway PostgreSQL cluster for pg_stat_statements."""

import datetime
import json
import os
import signal
import socket
import subprocess
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
PGBIN = os.environ.get("NW_PG_BIN", "/usr/lib/postgresql/15/bin")
HZ = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---- /proc ------------------------------------------------------------------

def proc_cpu(pid):
    """utime + stime of a process in seconds, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rindex(")") + 2:].split()[1])


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def proc_hwm_mb(pid):
    """Peak resident set (VmHWM) in MB."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


class CpuWatch:
    """CPU seconds spent during a stage by a client process and by the
    PostgreSQL processes of one cluster: the backends of one database (its
    name is in their process title, autovacuum workers included), the
    cluster's background processes (WAL writer, checkpointer, background
    writer, autovacuum of other databases: shared by everything running on
    the cluster, so noisy) and anything else (other databases' backends,
    ignored). Samples every 0.2 s so processes that exit are not lost."""

    BACKGROUND = ("walwriter", "checkpointer", "background writer", "autovacuum", "logical replication",
                  "archiver", "stats", "startup")

    def __init__(self, pgdata, dbname, client_pid=None):
        with open(os.path.join(pgdata, "postmaster.pid")) as f:
            self.postmaster = int(f.readline())
        self.dbname = dbname
        # one client process or several (replicas), summed
        self.client_pids = list(client_pid) if isinstance(client_pid, (list, tuple)) else \
            ([client_pid] if client_pid else [])
        self.first, self.last, self.kind = {}, {}, {}
        self.client_last = {}
        self._stop = threading.Event()
        self._scan(initial=True)
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _classify(self, pid):
        cmd = proc_cmdline(pid)
        words = cmd.split()
        if self.dbname in words:
            return "backend"
        if "parallel worker for PID" in cmd:     # works for the backend that started it
            leader = int(words[-1]) if words[-1].isdigit() else None
            if leader is not None and self.kind.get(leader) == "backend":
                return "backend"
        if any(b in cmd for b in self.BACKGROUND):
            return "background"
        return "other"

    def _scan(self, initial=False):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid not in self.kind:
                if proc_ppid(pid) != self.postmaster:
                    continue
                self.kind[pid] = self._classify(pid)
                self.first[pid] = proc_cpu(pid) if initial else 0.0
            elif self.kind[pid] == "other" and self.last.get(pid) is not None:
                # a backend shows its database once it is connected
                self.kind[pid] = self._classify(pid)
            v = proc_cpu(pid)
            if v is not None:
                self.last[pid] = v
        for pid in self.client_pids:
            v = proc_cpu(pid)
            if v is not None:
                self.client_last[pid] = v

    def _loop(self):
        while not self._stop.wait(0.2):
            self._scan()

    def stop(self):
        """Take a last sample and stop; returns {client, backend, background}."""
        self._scan()
        self._stop.set()
        self._t.join()
        out = {"client": None, "backend": 0.0, "background": 0.0, "other": 0.0}
        if self.client_last:
            out["client"] = sum(self.client_last.values())
        for pid, k in self.kind.items():
            if pid in self.last and self.first.get(pid) is not None:
                out[k] += max(0.0, self.last[pid] - self.first[pid])
        return out


# ---- PostgreSQL -----------------------------------------------------------------

def dsn_for(admin_dsn, dbname):
    p = urlsplit(admin_dsn)
    return urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def sql(dsn, query, args=(), autocommit=False):
    con = psycopg2.connect(dsn)
    con.autocommit = autocommit
    try:
        cur = con.cursor()
        cur.execute(query, args)
        rows = cur.fetchall() if cur.description else []
        con.commit()
        return rows
    finally:
        con.close()


def create_db(admin_dsn, name):
    sql(admin_dsn, 'CREATE DATABASE "%s"' % name, autocommit=True)
    return dsn_for(admin_dsn, name)


def drop_db(admin_dsn, name, socket_dir=None, port=None):
    # An autovacuum worker (a superuser process) on the database makes FORCE
    # fail for a non-superuser: retry a while, then ask as superuser over the
    # cluster's unix socket when we may (deploy/local's cluster trusts it).
    for attempt in range(10):
        try:
            sql(admin_dsn, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, autocommit=True)
            return
        except psycopg2.Error as e:
            err = e
            time.sleep(2)
    if socket_dir and subprocess.run(
            [os.path.join(PGBIN, "psql"), "-X", "-q", "-h", socket_dir, "-p", str(port), "-U", "postgres", "-d",
             "postgres", "-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name],
            capture_output=True).returncode == 0:
        return
    log("could not drop database %s: %s" % (name, err))


def psql(dsn, *args, check=True, **kw):
    return subprocess.run([os.path.join(PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn,
                           *args], check=check, **kw)


def table_counts(dsn, tables):
    out = {}
    for t in tables:
        try:
            out[t] = sql(dsn, "SELECT count(*) FROM %s" % t)[0][0]
        except psycopg2.Error:
            out[t] = None
    return out


def superuser_checkpoint(socket_dir, port):
    """CHECKPOINT as superuser over the cluster's unix socket (trust), so each
    stage starts without the previous one's dirty buffers; False if not allowed."""
    r = subprocess.run([os.path.join(PGBIN, "psql"), "-X", "-q", "-h", socket_dir, "-p", str(port),
                        "-U", "postgres", "-d", "postgres", "-c", "CHECKPOINT"],
                       capture_output=True, text=True)
    return r.returncode == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateCluster:
    """A throwaway PostgreSQL 15 cluster with pg_stat_statements (never the
    shared one): same memory and durability settings as deploy/local/postgres.sh."""

    def __init__(self, root, port):
        self.root, self.port = root, port
        self.data = os.path.join(root, "data")
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        if self.as_owner:
            subprocess.run(["chown", "postgres:postgres", self.root], check=True)
        subprocess.run(self.as_owner + [os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres",
                                        "-E", "UTF8", "--locale=C.UTF-8", "--auth=trust"],
                       check=True, capture_output=True, cwd="/")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n".join([
                "listen_addresses = '127.0.0.1'", "port = %d" % self.port,
                "unix_socket_directories = '%s'" % self.root, "max_connections = 20",
                "shared_buffers = %s" % os.environ.get("NW_PG_SHARED_BUFFERS", "1GB"), "fsync = on",
                open(os.path.join(SOURCE, "deploy", "local", "postgresql-ingest.conf")).read(),
                "shared_preload_libraries = 'pg_stat_statements, auto_explain'",
                "pg_stat_statements.track = all", "pg_stat_statements.max = 2000",
                "track_io_timing = on",
                # plans of the slow statements, with actual rows and times, in the log
                "auto_explain.log_min_duration = '300ms'", "auto_explain.log_analyze = on",
                "auto_explain.log_buffers = on", "auto_explain.sample_rate = 0.25",
                "auto_explain.log_nested_statements = on", ""]))
        subprocess.run(self.as_owner + [os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l",
                                        os.path.join(self.root, "postgresql.log"), "-w", "start"],
                       check=True, capture_output=True, cwd="/")

    def dsn(self, db="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def slow_plans(self, limit=3):
        """The auto_explain plans of the log, slowest first (distinct first lines)."""
        try:
            text = open(os.path.join(self.root, "postgresql.log"), errors="replace").read()
        except OSError:
            return []
        plans = []
        for chunk in text.split("LOG:  duration: ")[1:]:
            lines = []
            for ln in chunk.splitlines():
                if lines and ln[:4].isdigit() and " UTC [" in ln:
                    break
                lines.append(ln)
            try:
                ms = float(lines[0].split(" ms")[0])
            except ValueError:
                continue
            plans.append((ms, "\n".join(lines)))
        plans.sort(key=lambda x: -x[0])
        out, seen = [], set()
        for ms, p in plans:
            key = p.split("Query Text:")[-1][:120]
            if key in seen:
                continue
            seen.add(key)
            out.append(p)
            if len(out) >= limit:
                break
        return out

    def stop(self):
        subprocess.run(self.as_owner + [os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "fast",
                                        "stop"], capture_output=True, cwd="/")
        subprocess.run(["rm", "-rf", self.root])


# ---- Kafka ----------------------------------------------------------------------

def create_topics(brokers, specs):
    """specs: [(name, partitions, {config})]"""
    admin = AdminClient({"bootstrap.servers": brokers})
    fs = admin.create_topics([NewTopic(n, p, 1, config=c or {}) for n, p, c in specs])
    for f in fs.values():
        f.result(30)


def delete_topics(brokers, names):
    admin = AdminClient({"bootstrap.servers": brokers})
    for f in admin.delete_topics(list(names)).values():
        try:
            f.result(30)
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass


def end_offsets(brokers, topic):
    """{partition: high watermark}"""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-watermarks"})
    md = c.list_topics(topic, timeout=10)
    out = {}
    for p in md.topics[topic].partitions:
        out[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
    c.close()
    return out


def read_all(brokers, topic, limit=None, with_value=True, timeout=120):
    """Every message of a topic (or the first `limit`) as dicts."""
    ends = end_offsets(brokers, topic)
    total = sum(ends.values()) if limit is None else min(limit, sum(ends.values()))
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-reader", "enable.auto.commit": False,
                  "fetch.max.bytes": 52428800})
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out = []
    deadline = time.time() + timeout
    while len(out) < total and time.time() < deadline:
        for m in c.consume(1000, 1.0):
            if m.error():
                continue
            out.append({"partition": m.partition(), "offset": m.offset(), "ts": m.timestamp(),
                        "key": m.key(), "headers": m.headers(),
                        "value": m.value() if with_value else None})
            if len(out) >= total:
                break
    c.close()
    return out


def produce_all(brokers, topic, msgs, rate=0):
    """Send messages (dicts with key, value, headers), paced at `rate`/s when
    rate > 0 (catching up after a stall, as a feed with a backlog does)."""
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 0 if rate else 20,
                  "queue.buffering.max.kbytes": 1048576})
    t0 = time.time()
    for i, m in enumerate(msgs):
        if rate:
            wait = t0 + i / rate - time.time()
            if wait > 0:
                time.sleep(wait)
        while True:
            try:
                p.produce(topic, value=m["value"], key=m["key"], headers=m["headers"] or [])
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(120)
    return time.time() - t0, left


# ---- newswire-ingest --------------------------------------------------------------

def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class IngestRun:
    """newswire-ingest started on a private database and topics; done when its
    "batch done" log lines (written after the DB commit and the broker's acks)
    account for every message of the raw topic."""

    def __init__(self, binary, env, logpath, wrapper=()):
        self.logpath = logpath
        self.f = open(logpath, "wb")
        self.spawned = time.time()
        self.proc = subprocess.Popen(list(wrapper) + [binary], env=env, stdout=self.f,
                                     stderr=subprocess.STDOUT)
        self.pos = 0
        self.messages = self.batches = self.stored = self.events = self.dead = 0
        self.first_batch = self.last_batch = self.assigned = self.consuming = None

    def poll_log(self):
        with open(self.logpath, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.pos += end + 1
        for raw in data[:end].split(b"\n"):
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            msg = line.get("msg")
            if msg == "batch done":
                t = parse_time(line["time"])
                self.first_batch = self.first_batch or t
                self.last_batch = t
                self.batches += 1
                self.messages += line.get("messages", 0)
                self.stored += line.get("stored", 0)
                self.events += line.get("events", 0)
                self.dead += line.get("dead_letters", 0)
            elif msg == "partitions assigned" and not self.assigned:
                self.assigned = parse_time(line["time"])
            elif msg == "consuming" and not self.consuming:
                self.consuming = parse_time(line["time"])

    def wait(self, expect, timeout, on_tick=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.poll_log()
            if self.messages >= expect:
                return True
            if self.proc.poll() is not None:
                raise RuntimeError("newswire-ingest exited (%s); log %s" % (self.proc.returncode, self.logpath))
            if on_tick:
                on_tick(self)
            time.sleep(0.05)
        raise RuntimeError("timeout: %d of %d messages after %ds; log %s" %
                           (self.messages, expect, timeout, self.logpath))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.f.close()
        return self.proc.returncode


def committed_total(consumer, topic, partitions):
    """Sum of a group's committed offsets on a topic (the consumer carries the
    group id and never subscribes)."""
    tps = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    return sum(tp.offset for tp in tps if tp.offset >= 0)


class IngestGroup:
    """newswire-ingest replicas in one consumer group (IngestRun each, logs
    <logpath>, <logpath>.2, ...). One is done when its "batch done" lines
    account for every message; several, when the group's committed offsets
    reach the end of the raw topic (a rebalance makes a replica redo the
    batches it had not committed, so their lines count some messages twice).
    The figures are summed, the times span them all (first spawn to last
    batch)."""

    def __init__(self, binary, env, logpath, replicas, wrapper=()):
        self.brokers = env["NEWSWIRE_KAFKA_BROKERS"]
        self.group, self.topic = env["NEWSWIRE_GROUP_ID"], env["NEWSWIRE_TOPIC_RAW"]
        self.runs = [IngestRun(binary, env, logpath if i == 0 else "%s.%d" % (logpath, i + 1), wrapper)
                     for i in range(replicas)]
        self.pids = [r.proc.pid for r in self.runs]
        self.spawned = self.runs[0].spawned

    def __getattr__(self, name):
        vals = [getattr(r, name) for r in self.runs]
        if name in ("messages", "batches", "stored", "events", "dead"):
            return sum(vals)
        if name in ("last_batch",):
            return max((v for v in vals if v is not None), default=None)
        if name in ("assigned", "consuming", "first_batch"):
            return min((v for v in vals if v is not None), default=None)
        raise AttributeError(name)

    def wait(self, expect, timeout, on_tick=None):
        if len(self.runs) == 1:
            return self.runs[0].wait(expect, timeout, on_tick)
        ends = end_offsets(self.brokers, self.topic)
        c = Consumer({"bootstrap.servers": self.brokers, "group.id": self.group,
                      "enable.auto.commit": False})
        deadline, next_check = time.time() + timeout, 0.0
        try:
            while time.time() < deadline:
                for r in self.runs:
                    r.poll_log()
                    if r.proc.poll() is not None:
                        raise RuntimeError("newswire-ingest exited (%s); log %s" %
                                           (r.proc.returncode, r.logpath))
                if self.messages >= expect and time.time() >= next_check:
                    next_check = time.time() + 0.5
                    if committed_total(c, self.topic, list(ends)) >= sum(ends.values()):
                        for r in self.runs:
                            r.poll_log()
                        return True
                if on_tick:
                    on_tick(self)
                time.sleep(0.05)
        finally:
            c.close()
        raise RuntimeError("timeout: %d of %d messages after %ds; logs %s" %
                           (self.messages, expect, timeout, self.runs[0].logpath))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        codes = [r.stop(sig, timeout) for r in self.runs]
        return max(codes, key=lambda c: abs(c or 0))


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)
