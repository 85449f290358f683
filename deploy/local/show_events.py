#!/usr/bin/env python3
"""Print the enriched events and dead letters newswire published since a mark.

  show_events.py mark FILE                 remember the end offsets of the topics
  show_events.py show FILE N_EVENTS N_DLQ  wait for that many new records and print them

Used by deploy/local/demo.sh; reads with a real Kafka client (librdkafka)."""
import json
import os
import sys
import time

from confluent_kafka import Consumer, TopicPartition

BROKERS = os.environ.get("NEWSWIRE_KAFKA_BROKERS", "127.0.0.1:9092")
TOPICS = [os.environ.get("NEWSWIRE_TOPIC_ENRICHED", "wire.enriched"),
          os.environ.get("NEWSWIRE_TOPIC_DLQ", "wire.dlq")]


def consumer():
    return Consumer({"bootstrap.servers": BROKERS, "group.id": "newswire-demo-reader",
                     "enable.auto.commit": False})


def ends(c):
    out = {}
    for t in TOPICS:
        md = c.list_topics(t, timeout=10).topics[t]
        for p in md.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)
            out["%s:%d" % (t, p)] = hi
    return out


def mark(path):
    c = consumer()
    json.dump(ends(c), open(path, "w"))
    c.close()


def show(path, want_events, want_dlq, timeout=60):
    start = json.load(open(path))
    c = consumer()
    c.assign([TopicPartition(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1]), v) for k, v in start.items()])
    events, dead = [], []
    deadline = time.time() + timeout
    while time.time() < deadline and (len(events) < want_events or len(dead) < want_dlq):
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        h = {k: (v.decode() if v else "") for k, v in (m.headers() or [])}
        (events if m.topic() == TOPICS[0] else dead).append((m, h))
    c.close()
    print("\n=== %d enriched events on %s ===" % (len(events), TOPICS[0]))
    for m, h in sorted(events, key=lambda e: e[1].get("ce_time", "")):
        body = json.loads(m.value())
        item = body["item"]
        head = next((x["value"] for x in item.get("headlines", []) if x.get("role") == "main"), "")
        print("\n%-24s id=%s" % (h.get("ce_type"), h.get("ce_id")))
        print("  key      %s  (partition %d, offset %d)" % (m.key().decode(), m.partition(), m.offset()))
        print("  story    %s  version %s  cluster %s" % (body["story_id"], body["version"] or "-", body["cluster_id"]))
        print("  headline %s" % head)
        print("  status   %s / %s" % (body["edit_status"], body["pubstatus"]))
        for link in body.get("links", []):
            print("  link     %s -> version %s (score %.2f)" % (link["relation"], link.get("version"), link["score"]))
    print("\n=== %d dead letters on %s ===" % (len(dead), TOPICS[1]))
    for m, h in dead:
        print("\n  from %s[%s]@%s: %s" % (h.get("__connect.errors.topic"), h.get("__connect.errors.partition"),
                                        h.get("__connect.errors.offset"), h.get("newswire.error.reason")))
    return 0 if len(events) >= want_events and len(dead) >= want_dlq else 1


if __name__ == "__main__":
    if sys.argv[1] == "mark":
        mark(sys.argv[2])
    else:
        sys.exit(show(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
