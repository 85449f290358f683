#!/usr/bin/python3
"""Example subscriber of newswire's enriched events: prints a "similar
articles" box for every new story version, from the event's `links` (see
"Reading the links" in schemas/README.md).

    python3 similar_articles.py --brokers 127.0.0.1:9092 --topic wire.enriched

What a real subscriber must do, shown here in a few lines:

* read the CloudEvents attributes from the Kafka headers (binary mode), the
  body is the JSON of schemas/enriched-event.schema.json;
* drop repeats by `ce_id` (delivery is at-least-once: a replay publishes the
  same event again, same id, same body);
* store its offset only after it handled the event (at-least-once on its side
  too).

Only the Debian package python3-confluent-kafka is needed.
"""

import argparse
import collections
import json
import signal
import sys
import textwrap
import time

from confluent_kafka import Consumer, KafkaError

WIDTH = 72


class SeenIds:
    """The ids of the last `cap` events, to drop repeats. A replay repeats
    recent events, so a bounded memory is enough for this example; a
    subscriber that restarts keeps the newest version it showed per story in
    its own store instead."""

    def __init__(self, cap=100_000):
        self.cap = cap
        self.ids = collections.OrderedDict()

    def add(self, ce_id):
        """True when ce_id is new."""
        if ce_id in self.ids:
            self.ids.move_to_end(ce_id)
            return False
        self.ids[ce_id] = True
        if len(self.ids) > self.cap:
            self.ids.popitem(last=False)
        return True


def headline(item):
    for h in item.get("headlines") or []:
        if h.get("value"):
            return h["value"]
    return item.get("uri", "(no headline)")


def lines(text, indent=""):
    """text in box lines, wrapped (long ids break anywhere), never cut."""
    chunks = textwrap.wrap(text, WIDTH - 4, initial_indent=indent, subsequent_indent=indent,
                           break_long_words=True, break_on_hyphens=False) or [""]
    return ["| " + c.ljust(WIDTH - 4) + " |" for c in chunks]


def rule(title=""):
    if title:
        return "+-- " + title + " " + "-" * (WIDTH - 6 - len(title)) + "+"
    return "+" + "-" * (WIDTH - 2) + "+"


def shown_links(ev):
    """The links a box shows, best first as newswire orders them: every link,
    except a `related` story whose cluster (the same story from another
    agency, or another version) the box already shows."""
    shown, clusters = [], set()
    for link in ev.get("links") or []:
        cluster = link.get("cluster_id")
        if link["relation"] == "related" and cluster is not None and cluster in clusters:
            continue
        if cluster is not None:
            clusters.add(cluster)
        shown.append(link)
    return shown


def similar_box(ev):
    """The box for one event, as a list of lines: the story, then one entry
    per shown link: relation, score, agency and version, then the linked
    story's headline (or its id)."""
    out = [rule("Similar articles")]
    out += lines(headline(ev["item"]))
    out += lines("%s, version %s (%s)" % (ev["provider"], ev["version"] or "-", ev["kind"]))
    out += lines(ev["story_id"])
    out.append(rule())
    links = shown_links(ev)
    if not links:
        out += lines("no similar articles yet")
    for link in links:
        who = link.get("provider") or "version_pk %d" % link["version_pk"]
        if link.get("version") not in (None, ""):
            who += " v" + str(link["version"])
        out += lines("%-20s %4.2f  %s" % (link["relation"], link["score"], who))
        what = link.get("headline") or link.get("story_id")
        if what:
            out += lines(what, indent="    ")
    out.append(rule())
    return out


def handle(msg, seen, stats):
    headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
    ce_id = headers.get("ce_id")
    if headers.get("ce_specversion") != "1.0" or not ce_id:
        stats["skipped"] += 1
        print("skipping a message without CloudEvents headers at %s[%d]@%d"
              % (msg.topic(), msg.partition(), msg.offset()), file=sys.stderr)
        return
    if not seen.add(ce_id):
        stats["repeats"] += 1
        return
    try:
        ev = json.loads(msg.value())
    except ValueError:
        stats["skipped"] += 1
        print("skipping event %s: body is not JSON" % ce_id, file=sys.stderr)
        return
    stats["events"] += 1
    if ev["kind"] == "killed":
        removed = ", ".join("v" + r["version"] for r in ev.get("removed_versions", []))
        print("KILLED %s:%s: remove %s" % (ev["provider"], ev["story_id"], removed or "it"))
    else:
        print("\n".join(similar_box(ev)))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    ap.add_argument("--topic", default="wire.enriched", help="topic of enriched events")
    ap.add_argument("--group", default="similar-articles", help="consumer group")
    ap.add_argument("--exit-when-idle", type=float, default=0, metavar="SECONDS",
                    help="exit after this long without a message (0 = run until SIGINT/SIGTERM)")
    args = ap.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.offset.store": False,  # stored below, once the event is handled
    })
    consumer.subscribe([args.topic])
    running = [True]

    def stop(*_):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    seen = SeenIds()
    stats = collections.Counter(events=0, repeats=0, skipped=0)
    last = time.monotonic()
    try:
        while running[0]:
            msg = consumer.poll(0.5)
            if msg is None:
                if args.exit_when_idle and time.monotonic() - last > args.exit_when_idle:
                    break
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print("kafka: %s" % msg.error(), file=sys.stderr)
                continue
            last = time.monotonic()
            handle(msg, seen, stats)
            consumer.store_offsets(msg)
    finally:
        consumer.close()
    print("events: %d, repeats dropped: %d, skipped: %d"
          % (stats["events"], stats["repeats"], stats["skipped"]), file=sys.stderr)


if __name__ == "__main__":
    main()
