#!/usr/bin/python3
"""Speed of newswire against PostgreSQL's COPY ceiling and two hand-rolled
Python peers, on the real local broker and database (bench/run.sh runs it;
see bench/README.md for what each figure means).

Stages, each on private databases and topics named nwb_<run>_*:
  feed      generate N items with tests/tools/genfeed.py (cached in bench/out/)
            and load them into a private raw topic with newswire-feed
  newswire  newswire-ingest starts cold on an empty database; timed until the
            "batch done" lines (logged after the commit and the broker's acks)
            cover every raw message
  copy      dump every table newswire wrote (binary COPY TO), then COPY FROM
            the files into a fresh database with the same schema, one transaction
  naive, batched   bench/peer.py over the same raw topic
  preload   the newswire database's rows replicated under new keys up to
            --preload stored versions (1,000,000), then newswire again on it
  latency   a fresh newswire, raw messages produced at a steady --rate (1,000/s);
            produce time (raw CreateTime) to the enriched event's LogAppendTime
  profile   on a throwaway cluster with pg_stat_statements: newswire over the
            first --profile-items messages under `perf record` (cpu-clock),
            then a smaller run under callgrind
"""

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid

import benchlib as bl
from benchlib import log

STAGES = ["newswire", "copy", "naive", "batched", "preload", "latency", "profile"]
CORE_TABLES = ["stories", "item_versions", "links", "outbox"]


class Bench:
    def __init__(self, a):
        self.a = a
        self.brokers = os.environ.get("NEWSWIRE_KAFKA_BROKERS", "127.0.0.1:9092")
        self.admin_dsn = os.environ["NEWSWIRE_PG_DSN"]
        self.bin = a.bin
        self.tag = "nwb_" + time.strftime("%m%d%H%M") + "_" + uuid.uuid4().hex[:4]
        self.out = a.out
        self.work = os.path.join(self.out, "work", self.tag)
        os.makedirs(self.work, exist_ok=True)
        self.pgdata = os.path.realpath(os.path.join(bl.SOURCE, ".local", "pg", "data"))
        self.pgsock = os.path.realpath(os.path.join(bl.SOURCE, ".local", "pg", "run"))
        self.pgport = int(bl.urlsplit(self.admin_dsn).port or 5432)
        self.dbs, self.topics = [], []
        self.r = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run": self.tag,
                  "machine": machine(a.bin), "params": {k: v for k, v in vars(a).items()}}
        self.raw = self.tag + ".raw"

    # -- bookkeeping --------------------------------------------------------------

    def db(self, suffix):
        name = "%s_%s" % (self.tag, suffix)
        self.dbs.append(name)
        dsn = bl.create_db(self.admin_dsn, name)
        for kv in self.a.db_setting:           # same settings for every system measured
            k, v = kv.split("=", 1)
            bl.sql(self.admin_dsn, 'ALTER DATABASE "%s" SET %s = %s' % (name, k, v), autocommit=True)
        return name, dsn

    def topic_set(self, suffix, partitions, enriched_cfg=None):
        t = ("%s.%s.raw" % (self.tag, suffix), "%s.%s.enriched" % (self.tag, suffix),
             "%s.%s.dlq" % (self.tag, suffix))
        bl.create_topics(self.brokers, [(t[0], partitions, None), (t[1], partitions, enriched_cfg),
                                        (t[2], 1, None)])
        self.topics += list(t)
        return t

    def checkpoint(self):
        if not bl.superuser_checkpoint(self.pgsock, self.pgport):
            log("no superuser CHECKPOINT (stages may inherit dirty buffers)")

    def done_with(self, db):
        """A stage's database, dropped when the stage is done (a 1,000,000-version
        archive takes 30 GB) unless --keep asks for every database to stay."""
        if not self.a.keep:
            bl.drop_db(self.admin_dsn, db, self.pgsock, self.pgport)

    def cleanup(self, failed=False):
        if self.a.keep:
            log("kept databases %s and topics %s" % (self.dbs, self.topics))
            return
        bl.delete_topics(self.brokers, self.topics)
        for d in self.dbs:
            bl.drop_db(self.admin_dsn, d, self.pgsock, self.pgport)
        if failed:
            log("work files (logs) kept in %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def save(self):
        path = os.path.join(self.out, "results-%s.json" % self.tag)
        with open(path, "w") as f:
            json.dump(self.r, f, indent=1, default=str)
        shutil.copyfile(path, os.path.join(self.out, "latest.json"))
        return path

    # -- feed -------------------------------------------------------------------------

    def feed(self):
        a = self.a
        bad = a.items // 2000
        gen = os.path.join(bl.SOURCE, "tests", "tools", "genfeed.py")
        ver = hashlib.sha1(open(gen, "rb").read()).hexdigest()[:8]   # a changed generator makes a new feed
        base = os.path.join(self.out, "feed-s%d-n%d-b%d-g%s" % (a.seed, a.items, bad, ver))
        path, manifest = base + ".ndjson", base + ".manifest.json"
        if not os.path.exists(manifest):
            log("generating %d items (seed %d) into %s" % (a.items, a.seed, path))
            t = time.time()
            subprocess.run([sys.executable, gen,
                            "--items", str(a.items), "--bad", str(bad), "--seed", str(a.seed),
                            "--out", path + ".tmp", "--manifest", manifest + ".tmp"], check=True)
            os.rename(path + ".tmp", path)
            os.rename(manifest + ".tmp", manifest)
            log("generated in %.0f s" % (time.time() - t))
        m = json.load(open(manifest))
        size = os.path.getsize(path) - m["messages"]  # minus the newlines
        kinds = {}
        for v in m["versions"]:
            kinds[v[3]] = kinds.get(v[3], 0) + 1
        self.feed_path, self.n, self.bytes = path, m["messages"], size
        self.r["feed"] = {"file": path, "messages": self.n, "payload_bytes": size,
                          "mean_payload_bytes": round(size / self.n), "versions": len(m["versions"]),
                          "events_by_kind": kinds, "resends": m["resends"], "bad": m["bad"]}
        bl.create_topics(self.brokers, [(self.raw, a.partitions, None)])
        self.topics.append(self.raw)
        log("loading the raw topic %s (%d partitions) with newswire-feed" % (self.raw, a.partitions))
        t = time.time()
        subprocess.run([os.path.join(self.bin, "newswire-feed"), path],
                       env=dict(os.environ, NEWSWIRE_TOPIC_RAW=self.raw, NEWSWIRE_LOG_LEVEL="warn"),
                       check=True, stdout=subprocess.DEVNULL)
        load_s = time.time() - t
        ends = bl.end_offsets(self.brokers, self.raw)
        if sum(ends.values()) != self.n:
            raise RuntimeError("raw topic holds %d messages, expected %d" % (sum(ends.values()), self.n))
        self.r["feed"]["load_s"] = round(load_s, 1)
        log("raw topic loaded: %d messages, %.0f MB in %.1f s" % (self.n, size / 1e6, load_s))

    # -- newswire -------------------------------------------------------------------------

    def ingest_env(self, dsn, topics, group, extra=()):
        e = dict(os.environ)
        e.update({"NEWSWIRE_KAFKA_BROKERS": self.brokers, "NEWSWIRE_PG_DSN": dsn,
                  "NEWSWIRE_TOPIC_RAW": topics[0], "NEWSWIRE_TOPIC_ENRICHED": topics[1],
                  "NEWSWIRE_TOPIC_DLQ": topics[2], "NEWSWIRE_GROUP_ID": group,
                  "NEWSWIRE_HTTP_ADDR": "", "NEWSWIRE_LOG_LEVEL": "info"})
        for kv in list(self.a.nw_env) + list(extra):
            k, v = kv.split("=", 1)
            e[k] = v
        return e

    def run_newswire(self, label, dbname, dsn, expect, raw=None, pgdata=None, extra_env=(), wrapper=(),
                     timeout=None):
        """One cold newswire-ingest run until every raw message is done."""
        tset = self.topic_set(label, self.a.partitions)
        topics = (raw or self.raw, tset[1], tset[2])
        env = self.ingest_env(dsn, topics, "g." + self.tag + "." + label, extra_env)
        logpath = os.path.join(self.work, label + ".log")
        self.checkpoint()
        k = self.a.replicas if label in ("newswire", "newswire_preloaded") else 1
        log("%s: newswire-ingest on %s (%d messages%s)" % (label, dbname, expect,
                                                          ", %d replicas" % k if k > 1 else ""))
        run = bl.IngestGroup(os.path.join(self.bin, "newswire-ingest"), env, logpath, k, wrapper)
        watch = bl.CpuWatch(pgdata or self.pgdata, dbname, run.pids)
        run.wait(expect, timeout or max(600, expect // 20))
        cpu = watch.stop()
        rsss = [bl.proc_hwm_mb(pid) for pid in run.pids]
        rss = max(rsss) if all(rsss) else None
        rc = run.stop()
        wall = run.last_batch - run.spawned
        res = {"wall_s": round(wall, 2), "items_per_s": round(expect / wall, 1),
               "mb_per_s": round(self.bytes * expect / self.n / wall / 1e6, 2),
               "after_assignment_s": round(run.last_batch - (run.assigned or run.spawned), 2),
               "startup_s": round((run.assigned or run.spawned) - run.spawned, 2),
               "cpu_s": {k: round(v, 2) for k, v in cpu.items() if v is not None},
               "peak_rss_mb": round(rss, 1) if rss else None, "exit_code": rc,
               "batches": run.batches, "messages": run.messages, "stored": run.stored,
               "events": run.events, "dead_letters": run.dead, "log": logpath, "replicas": k}
        if k > 1:
            res["peak_rss_mb_each"] = [round(x, 1) for x in rsss if x]
        res["cpu_per_1000"] = per_1000(cpu, expect)
        try:
            res["rows"] = bl.table_counts(dsn, CORE_TABLES + ["sim_fingerprints", "sim_bands", "sim_terms"])
            res["rows"]["outbox_unsent"] = bl.sql(dsn, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
            res["enriched_messages"] = sum(bl.end_offsets(self.brokers, topics[1]).values())
            res["dlq_messages"] = sum(bl.end_offsets(self.brokers, topics[2]).values())
        except Exception as e:  # noqa: BLE001 - a count is informative, not the measure
            res["verify_error"] = str(e)
        log("%s: %.1f s, %.0f items/s, client CPU %.1f s, backend CPU %.1f s, peak RSS %s MB" % (
            label, wall, res["items_per_s"], cpu["client"] or 0, cpu["backend"], res["peak_rss_mb"]))
        return res

    def stage_newswire(self):
        name, dsn = self.db("nw")
        self.nw_db = (name, dsn)
        self.r["newswire"] = self.run_newswire("newswire", name, dsn, self.n)

    # -- COPY ceiling ---------------------------------------------------------------------

    def written_tables(self, dsn):
        """Leaf tables holding rows, parents before children of foreign keys."""
        rows = bl.sql(dsn, """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations'""")
        tables = [r[0] for r in rows if bl.sql(dsn, 'SELECT EXISTS (SELECT 1 FROM "%s")' % r[0])[0][0]]
        deps = {}
        for child, parent in bl.sql(dsn, """
                SELECT cl.relname, pl.relname FROM pg_constraint k
                  JOIN pg_class cl ON cl.oid = k.conrelid JOIN pg_class pl ON pl.oid = k.confrelid
                 WHERE k.contype = 'f'"""):
            deps.setdefault(child, set()).add(parent)
        order, seen = [], set()

        def visit(t):
            if t in seen:
                return
            seen.add(t)
            for p in sorted(deps.get(t, ())):
                if p in tables:
                    visit(p)
            order.append(t)
        for t in sorted(tables, key=lambda t: (CORE_TABLES.index(t) if t in CORE_TABLES else 99, t)):
            visit(t)
        return order

    def stage_copy(self):
        name, dsn = self.nw_db
        tables = self.written_tables(dsn)
        self.schema = os.path.join(self.work, "schema.sql")
        with open(self.schema, "w") as f:
            subprocess.run([os.path.join(bl.PGBIN, "pg_dump"), "-s", "-O", "-x", dsn], stdout=f, check=True)
            # the applied migrations too, so newswire-ingest finds the schema ready
            subprocess.run([os.path.join(bl.PGBIN, "pg_dump"), "-a", "-O", "-t", "schema_migrations", dsn],
                           stdout=f, check=True)
        self.dump = {}
        log("copy: dumping %s" % ", ".join(tables))
        for t in tables:
            path = os.path.join(self.work, t + ".copy")
            bl.psql(dsn, "-c", "\\copy %s TO '%s' (FORMAT binary)" % (t, path))
            self.dump[t] = path
        self.tables = tables
        cname, cdsn = self.db("copy")
        bl.psql(cdsn, "-f", self.schema, stdout=subprocess.DEVNULL)
        self.checkpoint()
        con = bl.psycopg2.connect(cdsn)
        watch = bl.CpuWatch(self.pgdata, cname)
        t0, c0 = time.time(), time.thread_time()
        cur = con.cursor()
        for t in tables:
            with open(self.dump[t], "rb") as f:
                cur.copy_expert("COPY %s FROM STDIN (FORMAT binary)" % t, f, size=1 << 20)
        con.commit()
        wall, client = time.time() - t0, time.thread_time() - c0
        cpu = watch.stop()          # before the backend goes away
        cpu["client"] = client
        con.close()
        files = sum(os.path.getsize(x) for x in self.dump.values())
        rows = bl.table_counts(cdsn, tables)
        self.r["copy"] = {"wall_s": round(wall, 2), "items_per_s": round(self.n / wall, 1),
                          "mb_per_s": round(self.bytes / wall / 1e6, 2), "copy_file_bytes": files,
                          "copy_mb_per_s": round(files / wall / 1e6, 2), "tables": rows,
                          "cpu_s": {k: round(v, 2) for k, v in cpu.items() if v is not None},
                          "cpu_per_1000": per_1000(cpu, self.n), "peak_rss_mb": None}
        log("copy: %.1f s, %.0f items/s (%.0f MB of COPY data)" % (wall, self.n / wall, files / 1e6))
        self.done_with(cname)

    # -- peers ------------------------------------------------------------------------------

    def stage_peer(self, mode):
        name, dsn = self.db(mode)
        tset = self.topic_set(mode, self.a.partitions)
        report = os.path.join(self.work, mode + ".json")
        limit = self.a.naive_limit_s if mode == "naive" else 0
        self.checkpoint()
        log("%s peer on %s%s" % (mode, name, " (at most %d s)" % limit if limit else ""))
        spawned = time.time()
        p = subprocess.Popen([sys.executable, os.path.join(bl.HERE, "peer.py"), "--mode", mode, "--dsn", dsn,
                              "--brokers", self.brokers, "--topic", self.raw, "--group", "g." + name,
                              "--out-topic", tset[1], "--expect", str(self.n), "--report", report,
                              "--time-limit", str(limit), "--hold"], stdin=subprocess.PIPE)
        watch = bl.CpuWatch(self.pgdata, name)
        while not os.path.exists(report) and p.poll() is None:
            time.sleep(0.05)
        cpu = watch.stop()          # the peer holds its connection open until told
        p.stdin.write(b"\n")
        p.stdin.close()
        p.wait(120)
        rep = json.load(open(report))
        cpu["client"] = rep["cpu_s"]
        wall = rep["done"] - spawned
        done = rep["messages"]
        res = {"wall_s": round(wall, 2), "messages": done, "complete": done >= self.n,
               "items_per_s": round(done / wall, 1), "mb_per_s": round(self.bytes * done / self.n / wall / 1e6, 2),
               "cpu_s": {k: round(v, 2) for k, v in cpu.items() if v is not None},
               "cpu_per_1000": per_1000(cpu, done), "peak_rss_mb": round(rep["maxrss_mb"], 1),
               "stored": rep["stored"], "unparsed": rep["unparsed"],
               "events": sum(bl.end_offsets(self.brokers, tset[1]).values()), "exit_code": p.returncode}
        self.r[mode] = res
        log("%s: %d messages in %.1f s, %.0f items/s" % (mode, done, wall, res["items_per_s"]))
        if res["complete"] and "peer_copy" not in self.r:
            self.peer_copy(dsn)
        self.done_with(name)

    def peer_copy(self, dsn):
        """For orientation (the issue's figures): COPY of the peer's own rows
        into its own table shape, so its ratios compare with 0.17 and 0.34."""
        path = os.path.join(self.work, "peer_items.copy")
        bl.psql(dsn, "-c", "\\copy peer_items TO '%s' (FORMAT binary)" % path)
        cname, cdsn = self.db("peercopy")
        sys.path.insert(0, bl.HERE)
        import peer
        bl.sql(cdsn, peer.SCHEMA)
        self.checkpoint()
        con = bl.psycopg2.connect(cdsn)
        t0 = time.time()
        with open(path, "rb") as f:
            con.cursor().copy_expert("COPY peer_items FROM STDIN (FORMAT binary)", f, size=1 << 20)
        con.commit()
        wall = time.time() - t0
        con.close()
        self.r["peer_copy"] = {"wall_s": round(wall, 2), "items_per_s": round(self.n / wall, 1),
                               "copy_file_bytes": os.path.getsize(path),
                               "what": "COPY of the peer's rows (id text PRIMARY KEY, doc jsonb) into its own table"}
        log("peer rows COPY: %.1f s, %.0f items/s" % (wall, self.n / wall))
        self.done_with(cname)

    # -- 1,000,000 stored -----------------------------------------------------------------

    def replicate_sql(self, dsn, table, r, shift_days):
        """INSERT INTO table SELECT its dumped rows under new keys (replica r),
        r x shift_days earlier (the run's span in whole weeks, at least 4):
        an archive that grew over time, not r times the
        traffic of the same weeks (that would measure the similarity window's
        density, not the size of the database). Partitions' rows go through
        their parent, which routes them to the week they now fall in."""
        cols = bl.sql(dsn, """SELECT column_name, data_type FROM information_schema.columns
                               WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position""",
                      (table,))
        off = r * 100000000
        exprs = []
        for c, typ in cols:
            q = '"%s"' % c
            if c in ("version_pk", "from_version_pk", "to_version_pk", "current_version_pk", "story_pk",
                     "cluster_id", "outbox_pk"):
                e = "%s + %d" % (q, off)
            elif c in ("story_id", "msg_key"):
                e = "%s || '~%d'" % (q, r)
            elif typ == "uuid":
                e = "md5(%s::text || '%d')::uuid" % (q, r)
            elif c == "content_hash":
                e = "decode(md5(encode(%s, 'hex') || '%d'), 'hex')" % (q, r)
            elif c == "bucket":
                e = "%s # (%d::bigint << 40)" % (q, r)
            elif c in ("versioncreated", "firstcreated", "ts", "firstcreated_min"):
                e = "%s - interval '%d days'" % (q, shift_days * r)
            else:
                e = q
            exprs.append(e)
        parent = bl.sql(dsn, """SELECT p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                                 JOIN pg_class p ON p.oid = i.inhparent WHERE c.relname = %s""", (table,))
        return 'INSERT INTO "%s" (%s) SELECT %s FROM "stg_%s"' % (
            parent[0][0] if parent else table, ", ".join('"%s"' % c for c, _ in cols), ", ".join(exprs), table)

    def stage_preload(self):
        target = self.a.preload
        name, dsn = self.db("pre")
        bl.psql(dsn, "-f", self.schema, stdout=subprocess.DEVNULL)
        log("preload: staging the newswire run's rows")
        t0 = time.time()
        for t in self.tables:
            bl.psql(dsn, "-c", 'CREATE UNLOGGED TABLE "stg_%s" (LIKE "%s")' % (t, t),
                    "-c", "\\copy stg_%s FROM '%s' (FORMAT binary)" % (t, self.dump[t]))
        versions = bl.sql(dsn, "SELECT count(*) FROM stg_item_versions")[0][0]
        k = max(1, math.ceil(target / max(1, versions)))
        span = bl.sql(dsn, "SELECT extract(epoch FROM max(versioncreated) - min(versioncreated)) / 86400"
                           " FROM stg_item_versions")[0][0] or 0
        shift = max(28, 7 * math.ceil((float(span) + 1) / 7))
        keyed = {t for t in self.tables if bl.sql(dsn, """
            SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
                              AND table_name = %s AND column_name IN ('version_pk', 'story_pk', 'outbox_pk',
                                                            'from_version_pk'))""",
            (t,))[0][0]}
        if not self.a.preload_default and bl.sql(dsn, "SELECT to_regproc('sim_ensure_partitions') IS NOT NULL")[0][0]:
            # weekly partitions for the archive's weeks, as live traffic would
            # have found them; without this a replayed archive lands in DEFAULT
            bl.psql(dsn, "-c", "SELECT sim_ensure_partitions(min(versioncreated) - interval '%d days', "
                    "max(versioncreated)) FROM stg_item_versions" % (shift * k + 7), stdout=subprocess.DEVNULL)
        for r in range(1, k + 1):
            log("preload: replica %d of %d (%d versions each)" % (r, k, versions))
            # tables of per-item rows get every replica; the others (IDF
            # statistics, singletons) are copied once
            script = "BEGIN;\n" + "".join(self.replicate_sql(dsn, t, r, shift) + ";\n" for t in self.tables
                                          if t in keyed or r == 1) + "COMMIT;\n"
            bl.psql(dsn, "-c", script)
        for t in self.tables:
            bl.psql(dsn, "-c", 'DROP TABLE "stg_%s"' % t)
        for seq_t, col in (("stories", "story_pk"), ("item_versions", "version_pk"), ("outbox", "outbox_pk")):
            bl.psql(dsn, "-c", "SELECT setval(pg_get_serial_sequence('%s', '%s'), (SELECT max(%s) FROM %s))" % (
                seq_t, col, col, seq_t), stdout=subprocess.DEVNULL)
        tops = bl.sql(dsn, """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition""")
        bl.psql(dsn, "-c", "ANALYZE " + ", ".join('"%s"' % t for (t,) in tops))
        preload_s = time.time() - t0
        prune_s = None
        if self.a.preload_unpruned:
            log("preload: similarity index left unpruned: the service's own maintenance prunes it, "
                "in steps, during the timed run")
        elif bl.sql(dsn, "SELECT to_regproc('sim_prune') IS NOT NULL")[0][0]:
            # A deployment that grew this archive kept its similarity index to
            # the service's retention (30 days with the default 72 h window)
            # by its daily maintenance, and autovacuum cleaned up after it. Do
            # that here, outside the timed run: otherwise the run's first
            # maintenance deletes the whole older archive from the index while
            # the clock runs (a one-time catch-up, reported as prune_s).
            t1 = time.time()
            bl.psql(dsn, "-c", "SELECT sim_prune(now() - interval '30 days')", stdout=subprocess.DEVNULL)
            bl.psql(dsn, "-c", "VACUUM ANALYZE sim_fingerprints, sim_bands, sim_terms")
            prune_s = time.time() - t1
            log("preload: similarity index pruned to the service's 30-day retention in %.0f s" % prune_s)
        rows = bl.table_counts(dsn, self.tables)
        size = bl.sql(dsn, "SELECT pg_database_size(current_database())")[0][0]
        log("preload: %d versions stored in %.0f s (%.1f GB)" % (rows.get("item_versions", 0), preload_s, size / 1e9))
        res = self.run_newswire("newswire_preloaded", name, dsn, self.n)
        res["preloaded_rows"] = rows
        res["preload_s"] = round(preload_s, 1)
        res["prune_s"] = round(prune_s, 1) if prune_s is not None else None
        res["preload_partitions"] = "default" if self.a.preload_default else "weekly"
        res["preload_pruned"] = not self.a.preload_unpruned
        res["preload_db_bytes"] = size
        res["method"] = ("every table the newswire run wrote, replicated %d times under new keys "
                         "(story_id/msg_key suffixed, pks offset, uuids and content hashes rehashed, "
                         "LSH buckets scrambled, item times r x %d days earlier) with INSERT ... SELECT, "
                         "indexes in place, then ANALYZE; " % (k, shift)) + (
            "the similarity index left past its retention, for the service's own maintenance to "
            "prune in steps while the clock runs (a service started on an old archive)"
            if self.a.preload_unpruned else
            "then the similarity index pruned to the service's 30-day retention (sim_prune) and "
            "vacuumed, as daily maintenance and autovacuum would have kept it")
        res["preload_shift_days"] = shift
        self.r["preloaded"] = res
        self.done_with(name)

    # -- latency ----------------------------------------------------------------------------

    def stage_latency(self):
        a = self.a
        count = min(self.n, int(a.rate * a.latency_s))
        name, dsn = self.db("lat")
        tset = self.topic_set("lat", a.partitions, {"message.timestamp.type": "LogAppendTime"})
        msgs = bl.read_all(self.brokers, self.raw, limit=count)
        env = self.ingest_env(dsn, tset, "g." + name)
        logpath = os.path.join(self.work, "latency.log")
        self.checkpoint()
        run = bl.IngestRun(os.path.join(self.bin, "newswire-ingest"), env, logpath)
        deadline = time.time() + 60
        while not run.assigned and time.time() < deadline:
            run.poll_log()
            time.sleep(0.1)
        time.sleep(1.0)
        log("latency: producing %d messages at %d/s" % (count, a.rate))
        send_s, left = bl.produce_all(self.brokers, tset[0], msgs, rate=a.rate)
        run.wait(count, 300)
        rss = bl.proc_hwm_mb(run.proc.pid)
        run.stop()
        raw = {(m["partition"], m["offset"]): m["ts"][1] for m in bl.read_all(self.brokers, tset[0], with_value=False)}
        first = {}
        for m in bl.read_all(self.brokers, tset[1]):
            src = json.loads(m["value"]).get("source") or {}
            k = (src.get("partition"), src.get("offset"))
            if src.get("topic") == tset[0] and k in raw:
                first[k] = min(first.get(k, 1 << 62), m["ts"][1])
        lat = sorted(first[k] - raw[k] for k in first)
        res = {"rate": a.rate, "messages": count, "send_s": round(send_s, 1),
               "achieved_rate": round(count / send_s, 1), "samples": len(lat),
               "p50_ms": bl.percentile(lat, 0.5), "p90_ms": bl.percentile(lat, 0.9),
               "p99_ms": bl.percentile(lat, 0.99), "max_ms": lat[-1] if lat else None,
               "peak_rss_mb": round(rss, 1) if rss else None, "batches": run.batches,
               "mean_batch": round(run.messages / max(1, run.batches), 1),
               "env": list(a.nw_env),
               "how": "raw CreateTime (set by the producer) to the enriched event's LogAppendTime "
                      "(set by the broker when it appended it); first event per raw message"}
        self.r["latency"] = res
        log("latency: p50 %.1f ms, p99 %.1f ms over %d events (mean batch %.0f)" % (
            res["p50_ms"] or -1, res["p99_ms"] or -1, len(lat), res["mean_batch"]))
        self.done_with(name)

    # -- profile ------------------------------------------------------------------------------

    def stage_profile(self):
        a = self.a
        count = min(self.n, a.profile_items)
        port = a.profile_port or bl.free_port()
        root = "/tmp/nwbench-pg-%s" % self.tag
        cl = bl.PrivateCluster(root, port)
        try:
            cl.start()
        except Exception:
            cl.stop()
            raise
        res = {"cluster": "throwaway PostgreSQL 15 on port %d, same shared_buffers/fsync as the shared one, "
                          "pg_stat_statements" % port}
        try:
            bl.sql(cl.dsn(), "CREATE DATABASE prof", autocommit=True)
            bl.sql(cl.dsn("prof"), "CREATE EXTENSION pg_stat_statements")
            tset = self.topic_set("prof", a.partitions)
            bl.produce_all(self.brokers, tset[0], bl.read_all(self.brokers, self.raw, limit=count))
            perf_data = os.path.join(self.work, "perf.data")
            perf = None
            if shutil.which("perf"):
                perf = subprocess.Popen(["perf", "record", "-a", "-e", "cpu-clock", "-F", "499", "-o", perf_data],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            nw = self.run_newswire("profile", "prof", cl.dsn("prof"), count, raw=tset[0], pgdata=cl.data)
            if perf:
                perf.send_signal(2)
                perf.wait(60)
                res["perf"] = perf_summary(perf_data)
            res["newswire"] = {k: nw[k] for k in ("wall_s", "items_per_s", "cpu_s", "cpu_per_1000", "batches")}
            res["statements"] = [
                {"query": q[:300], "calls": c, "total_ms": round(t, 1), "mean_ms": round(m, 3), "rows": rw,
                 "wal_mb": round(float(w) / 1e6, 1), "share_of_wall": round(t / 1000 / nw["wall_s"], 3)}
                for q, c, t, m, rw, w in bl.sql(cl.dsn("prof"), """
                    SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time, mean_exec_time, rows,
                           wal_bytes FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15""")]
            plans = cl.slow_plans()
            if plans:
                path = os.path.join(self.out, "slow-plans-%s.txt" % self.tag)
                with open(path, "w") as f:
                    f.write("\n\n".join(plans))
                res["slow_plans"] = {"file": path, "first": plans[0].splitlines()[:60]}
            if a.callgrind_items and shutil.which("valgrind"):
                res["callgrind"] = self.callgrind(cl, min(count, a.callgrind_items))
        finally:
            cl.stop()
        self.r["profile"] = res

    def callgrind(self, cl, count):
        bl.sql(cl.dsn(), "CREATE DATABASE cg", autocommit=True)
        tset = self.topic_set("cg", self.a.partitions)
        bl.produce_all(self.brokers, tset[0], bl.read_all(self.brokers, self.raw, limit=count))
        out = os.path.join(self.work, "callgrind.out")
        self.run_newswire("callgrind", "cg", cl.dsn("cg"), count, raw=tset[0], pgdata=cl.data,
                          wrapper=("valgrind", "--tool=callgrind", "--callgrind-out-file=" + out), timeout=3600)
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True, text=True).stdout
        self_ann = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
        keep = os.path.join(self.out, "callgrind-%s.out" % self.tag)
        shutil.copyfile(out, keep)
        return {"messages": count, "file": keep, "inclusive": top_lines(ann, 40), "self": top_lines(self_ann, 30)}

    # -- all -----------------------------------------------------------------------------------

    def run(self):
        stages = [s for s in STAGES if s not in self.a.skip]
        t0 = time.time()
        failed = True
        try:
            self.feed()
            for s in stages:
                if s == "newswire":
                    self.stage_newswire()
                elif s == "copy":
                    self.stage_copy()
                elif s in ("naive", "batched"):
                    self.stage_peer(s)
                elif s == "preload" and "copy" in stages:
                    self.stage_preload()
                elif s == "latency":
                    self.stage_latency()
                elif s == "profile":
                    self.stage_profile()
                self.save()
            failed = False
        finally:
            self.r["total_s"] = round(time.time() - t0, 1)
            summarize(self.r)
            path = self.save()
            self.cleanup(failed)
        print_table(self.r)
        log("results: %s" % path)


def per_1000(cpu, n):
    return {k: round(v * 1000 / n, 3) for k, v in cpu.items() if v is not None and k != "other"}


def tree_state(src, paths):
    """(short commit, changed files under paths) of a git checkout."""
    git = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", src, "status", "--porcelain", "--untracked-files=no", "--", *paths],
                           capture_output=True, text=True)
    return git.stdout.strip(), [ln[3:] for ln in dirty.stdout.splitlines()]


def binaries_source(bindir):
    """The source tree a CMake build's bin/ folder was built from (its CMakeCache), or None."""
    try:
        with open(os.path.join(bindir, os.pardir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return None


def machine(bindir):
    cpu = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
    # the binaries' own source tree (NW_BIN may point at another checkout's build)
    src = binaries_source(bindir) or bl.SOURCE
    commit, dirty = tree_state(src, ["common", "services", "schemas"])
    return {"commit": commit, "uncommitted_changes": dirty, "binaries": os.path.realpath(bindir),
            "binaries_source": os.path.realpath(src),
            "cpu": cpu, "cores": os.cpu_count(), "mem_mb": mem, "kernel": platform.release(),
            "postgresql": subprocess.run([os.path.join(bl.PGBIN, "postgres"), "--version"], capture_output=True,
                                         text=True).stdout.strip()}


def perf_summary(path):
    def rep(*args):
        r = subprocess.run(["perf", "report", "-i", path, "--stdio", "--percent-limit", "0.5", *args],
                           capture_output=True, text=True)
        return [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")][:40]
    return {"by_process": rep("--sort", "comm"), "by_dso": rep("--sort", "comm,dso"),
            "ingest_symbols": rep("--comms", "newswire-ingest", "--sort", "dso,sym")[:30],
            "postgres_symbols": rep("--comms", "postgres", "--sort", "sym")[:25]}


def top_lines(text, n):
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if "file:function" in ln:
            return [x for x in lines[i + 2:i + 2 + n] if x.strip()]
    return lines[:n]


def summarize(r):
    nw = r.get("newswire", {}).get("items_per_s")
    ratios, targets = {}, {}
    for k in ("copy", "naive", "batched"):
        if nw and r.get(k, {}).get("items_per_s"):
            ratios["newswire/" + k] = round(nw / r[k]["items_per_s"], 3)
    pc = r.get("peer_copy", {}).get("items_per_s")
    for k in ("naive", "batched"):
        if pc and r.get(k, {}).get("items_per_s"):
            ratios[k + "/peer_copy"] = round(r[k]["items_per_s"] / pc, 3)
    if nw and r.get("preloaded", {}).get("items_per_s"):
        ratios["preloaded/empty"] = round(r["preloaded"]["items_per_s"] / nw, 3)
    r["ratios"] = ratios
    rules = [("newswire/copy", ">=", 0.7), ("newswire/naive", ">=", 4), ("newswire/batched", ">=", 2),
             ("preloaded/empty", ">=", 0.8)]
    for key, op, lim in rules:
        if key in ratios:
            targets[key + " >= %s" % lim] = {"value": ratios[key], "met": ratios[key] >= lim}
    if r.get("latency", {}).get("p99_ms") is not None:
        targets["p99 latency <= 100 ms"] = {"value": r["latency"]["p99_ms"], "met": r["latency"]["p99_ms"] <= 100}
    if r.get("newswire", {}).get("peak_rss_mb") is not None:
        v = r["newswire"]["peak_rss_mb"]
        targets["peak RSS <= 150 MB"] = {"value": v, "met": v <= 150}
    r["targets"] = targets


def print_table(r):
    print()
    print("newswire bench %s, %s items (%.0f MB of payloads), %s, %d cores, code %s%s" % (
        r["date"], r["feed"]["messages"], r["feed"]["payload_bytes"] / 1e6, r["machine"]["cpu"], r["machine"]["cores"],
        r["machine"].get("commit"), " + uncommitted changes" if r["machine"].get("uncommitted_changes") else ""))
    hdr = "%-22s %10s %8s %8s %22s %9s %10s"
    print(hdr % ("", "items/s", "MB/s", "wall s", "CPU s/1000 cli+pg(bg)", "RSS MB", "newswire/x"))
    for k, label in (("newswire", "newswire"), ("copy", "COPY ceiling"), ("naive", "naive peer"),
                     ("batched", "batched peer"), ("preloaded", "newswire, 1M stored")):
        x = r.get(k)
        if not x:
            continue
        c = x.get("cpu_per_1000", {})
        cpu = "%.3f+%.3f(%.3f)" % (c.get("client") or 0, c.get("backend") or 0, c.get("background") or 0)
        ratio = r["ratios"].get("newswire/" + k, "")
        if k == "preloaded":
            ratio = "%s (1M/empty)" % r["ratios"].get("preloaded/empty", "")
        note = "" if x.get("complete", True) else " (%d msgs)" % x["messages"]
        print(hdr % (label + note, "%.0f" % x["items_per_s"], "%.1f" % x["mb_per_s"], "%.1f" % x["wall_s"], cpu,
                     x.get("peak_rss_mb") or "-", ratio))
    pc = r.get("peer_copy")
    if pc:
        print("orientation: COPY of the peers' own rows %.0f items/s; naive/that %s, batched/that %s "
              "(the issue: about 0.17 and 0.34)" % (pc["items_per_s"], r["ratios"].get("naive/peer_copy", "-"),
                                                    r["ratios"].get("batched/peer_copy", "-")))
    lat = r.get("latency")
    if lat:
        print("latency at %d/s: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (%d events)" % (
            lat["rate"], lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"], lat["samples"]))
    for k, v in r.get("targets", {}).items():
        print("target %-28s %-10s %s" % (k, v["value"], "met" if v["met"] else "NOT met"))
    print("total %.0f s" % r.get("total_s", 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--items", type=int, default=200000, help="N raw messages (default 200,000)")
    ap.add_argument("--quick", action="store_true", help="smoke run: N=20,000, 100,000 preloaded, 10 s latency")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--replicas", type=int, default=1,
                    help="newswire-ingest processes in the consumer group for the newswire and "
                         "preloaded runs (CPU summed, peak RSS the largest)")
    ap.add_argument("--preload", type=int, default=1000000, help="stored versions before the second run")
    ap.add_argument("--preload-default", action="store_true",
                    help="leave the preloaded archive in the DEFAULT similarity partitions (an archive loaded "
                         "behind newswire's back); by default its weekly partitions are made first, as newswire "
                         "makes them for every item it stores")
    ap.add_argument("--preload-unpruned", action="store_true",
                    help="do not prune the preloaded archive's similarity index to the retention before the "
                         "timed run: the service's maintenance does it, in steps, while the clock runs (a "
                         "service started on an archive older than its retention, or after a long outage)")
    ap.add_argument("--rate", type=int, default=1000, help="items/s of the latency run")
    ap.add_argument("--latency-s", type=float, default=30, help="length of the latency run")
    ap.add_argument("--naive-limit-s", type=int, default=300,
                    help="stop the naive peer after this many seconds (0 = all N); its rate is over what it did")
    ap.add_argument("--profile-items", type=int, default=20000)
    ap.add_argument("--callgrind-items", type=int, default=1000, help="0 = no callgrind run")
    ap.add_argument("--profile-port", type=int, default=0, help="port of the throwaway cluster (0 = a free one)")
    ap.add_argument("--skip", action="append", default=[], choices=STAGES)
    ap.add_argument("--nw-env", action="append", default=[], metavar="NEWSWIRE_X=V",
                    help="extra setting for every newswire-ingest (e.g. NEWSWIRE_BATCH_SIZE=1000)")
    ap.add_argument("--only", action="append", default=[], choices=STAGES, help="run only these stages")
    ap.add_argument("--db-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="ALTER DATABASE ... SET for every database of the run (e.g. default_toast_compression=lz4)")
    ap.add_argument("--keep", action="store_true", help="keep databases, topics and work files")
    ap.add_argument("--bin", default=os.environ.get("NW_BIN", os.path.join(bl.SOURCE, "build-perf", "bin")))
    ap.add_argument("--out", default=os.path.join(bl.HERE, "out"))
    a = ap.parse_args()
    if a.only:
        a.skip = [s for s in STAGES if s not in a.only]
    if a.quick:
        a.items = 20000 if a.items == 200000 else a.items
        a.preload = 100000 if a.preload == 1000000 else a.preload
        a.latency_s = 10 if a.latency_s == 30 else a.latency_s
        a.profile_items = min(a.profile_items, 5000)
        a.callgrind_items = min(a.callgrind_items, 300)
    os.makedirs(a.out, exist_ok=True)
    Bench(a).run()


if __name__ == "__main__":
    main()
