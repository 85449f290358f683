#!/usr/bin/python3
"""The job newswire does, written the way a team would without newswire: a
Python consumer (Debian's python3-confluent-kafka and python3-psycopg2) that
parses each wire payload with the standard library, inserts it with ON
CONFLICT and produces an event. The yardstick of bench/run.sh.

    peer.py --mode naive|batched --dsn DSN --brokers B --topic RAW --group G
            --out-topic EVENTS --expect N --report FILE.json

naive:   one INSERT and one COMMIT per message.
batched: consume(500), one executemany() and one COMMIT per poll.

Both parse the three formats of the feed (AP Media API JSON with its NITF
body, Reuters NewsML-G2, AFP NewsML 1.2) into ids, version, headline, time,
status and the body text, store {id PRIMARY KEY, doc jsonb} (the shape of the
issue: an item with a primary key and a jsonb column) and publish one JSON
event keyed provider:story_id with the source topic/partition/offset. They
produce asynchronously and let the consumer auto-commit offsets: weaker
guarantees than newswire's, which only favours them. Payloads they cannot
parse are counted and skipped. Stops after --expect messages, flushes the
producer, writes its report."""

import argparse
import json
import os
import resource
import sys
import time
import xml.etree.ElementTree as ET

import psycopg2
from confluent_kafka import Consumer, Producer

G2 = "{http://iptc.org/std/nar/2006-10-01/}"
XHTML = "{http://www.w3.org/1999/xhtml}"

SCHEMA = """CREATE TABLE IF NOT EXISTS peer_items (
    id          text PRIMARY KEY,          -- provider:story_id:version
    doc         jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now())"""
INSERT = "INSERT INTO peer_items (id, doc) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"


def paras(elems):
    return "\n\n".join("".join(p.itertext()).strip() for p in elems)


def parse(value):
    """(provider, story_id, version, doc) of one payload; raises on bad input."""
    head = value.lstrip()[:1]
    if head == b"{":
        d = json.loads(value)
        item = d["item"]
        body = ""
        if d.get("nitf"):
            body = paras(ET.fromstring(d["nitf"]).iter("p"))
        provider, sid = "ap", "tag:ap.org,2011:" + item["altids"]["itemid"]
        version = str(item.get("version", ""))
        doc = {"headline": item.get("headline"), "versioncreated": item.get("versioncreated"),
               "pubstatus": item.get("pubstatus"), "body_text": body}
    else:
        root = ET.fromstring(value)
        if root.tag == G2 + "newsMessage":
            it = root.find(G2 + "itemSet/" + G2 + "newsItem")
            provider, sid, version = "reuters", it.get("guid"), it.get("version", "")
            meta = it.find(G2 + "itemMeta")
            status = meta.find(G2 + "pubStatus").get("qcode", "stat:usable").split(":")[-1]
            doc = {"headline": it.findtext(G2 + "contentMeta/" + G2 + "headline"),
                   "versioncreated": meta.findtext(G2 + "versionCreated"), "pubstatus": status,
                   "body_text": paras(it.iter(XHTML + "p"))}
        elif root.tag == "NewsML":
            ni = root.find("NewsItem")
            ident = ni.find("Identification/NewsIdentifier")
            provider = "afp"
            sid = "urn:newsml:%s:%s:%s" % (ident.findtext("ProviderId"), ident.findtext("DateId"),
                                           ident.findtext("NewsItemId"))
            version = ident.findtext("RevisionId").strip()
            mgmt = ni.find("NewsManagement")
            doc = {"headline": ni.findtext("NewsComponent/NewsLines/HeadLine"),
                   "versioncreated": mgmt.findtext("ThisRevisionCreated"),
                   "pubstatus": mgmt.find("Status").get("FormalName", "Usable").lower(),
                   "body_text": paras(ni.iter("p"))}
        else:
            raise ValueError("unknown format")
    if not sid:
        raise ValueError("no id")
    doc.update({"provider": provider, "story_id": sid, "version": version})
    return provider, sid, version, doc


def event(m, provider, sid, version, doc):
    body = {"type": "item", "id": "%s:%s:%s" % (provider, sid, version),
            "source": {"topic": m.topic(), "partition": m.partition(), "offset": m.offset()},
            "item": doc}
    return ("%s:%s" % (provider, sid)).encode(), json.dumps(body, separators=(",", ":")).encode()


def produce(p, topic, key, value):
    while True:
        try:
            p.produce(topic, value=value, key=key)
            return
        except BufferError:
            p.poll(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["naive", "batched"], required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--out-topic", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--time-limit", type=float, default=0, help="stop after this many seconds (0 = none)")
    ap.add_argument("--report", required=True)
    ap.add_argument("--hold", action="store_true",
                    help="after the report, keep the database connection until a line on stdin "
                         "(so the bench can read the backend's CPU)")
    a = ap.parse_args()

    started = time.time()
    db = psycopg2.connect(a.dsn)
    cur = db.cursor()
    cur.execute(SCHEMA)
    db.commit()
    c = Consumer({"bootstrap.servers": a.brokers, "group.id": a.group,
                  "auto.offset.reset": "earliest"})
    p = Producer({"bootstrap.servers": a.brokers})
    c.subscribe([a.topic])

    seen = bad = stored = 0
    first_msg = None
    while seen < a.expect:
        if a.time_limit and first_msg and time.time() - first_msg > a.time_limit:
            break
        if a.mode == "naive":
            m = c.poll(1.0)
            msgs = [m] if m is not None else []
        else:
            msgs = c.consume(a.batch, 1.0)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            continue
        if first_msg is None:
            first_msg = time.time()
        seen += len(msgs)
        rows, events = [], []
        for m in msgs:
            try:
                provider, sid, version, doc = parse(m.value())
            except Exception:          # noqa: BLE001 - a hand-rolled consumer skips what it cannot read
                bad += 1
                continue
            rows.append(("%s:%s:%s" % (provider, sid, version), json.dumps(doc)))
            events.append(event(m, provider, sid, version, doc))
        if a.mode == "naive":
            for row, (k, v) in zip(rows, events):
                cur.execute(INSERT, row)
                db.commit()
                produce(p, a.out_topic, k, v)
                p.poll(0)
        else:
            if rows:
                cur.executemany(INSERT, rows)
            db.commit()
            for k, v in events:
                produce(p, a.out_topic, k, v)
            p.poll(0)
        stored += len(rows)
    left = p.flush(120)
    done = time.time()
    c.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rep = {"mode": a.mode, "started": started, "first_message": first_msg, "done": done,
           "messages": seen, "stored": stored, "unparsed": bad, "unflushed": left,
           "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_mb": ru.ru_maxrss / 1024.0}
    with open(a.report + ".tmp", "w") as f:
        json.dump(rep, f)
    os.rename(a.report + ".tmp", a.report)
    if a.hold:
        sys.stdin.readline()
    db.close()
    return 0 if left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
