#!/usr/bin/python3
"""Create Kafka topics if missing (idempotent), with Debian's python3-confluent-kafka.

Usage: create-topics.py BOOTSTRAP NAME:PARTITIONS [NAME:PARTITIONS ...]

Why Python: kcat cannot create topics, and the Java TopicCommand needs the separate kafka-tools
artifact plus another JVM start (~1 s). The AdminClient (librdkafka, CreateTopics v2-v4) is
already a test dependency. Replication factor is 1: the local broker is a single node.

An existing topic is fine; one with fewer partitions than asked is reported (partitions can only
grow, and a test relying on the count should know), one with more is left alone.
"""

import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    bootstrap = argv[1]
    wanted = {}
    for spec in argv[2:]:
        name, _, parts = spec.partition(":")
        if not name or not parts.isdigit() or int(parts) < 1:
            print(f"create-topics: bad topic spec '{spec}' (want NAME:PARTITIONS)", file=sys.stderr)
            return 2
        wanted[name] = int(parts)

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})
    try:
        existing = admin.list_topics(timeout=15).topics
    except KafkaException as e:
        print(f"create-topics: cannot reach Kafka at {bootstrap}: {e}", file=sys.stderr)
        return 1

    missing = [NewTopic(n, num_partitions=p, replication_factor=1)
               for n, p in wanted.items() if n not in existing]
    rc = 0
    if missing:
        futures = admin.create_topics(missing, operation_timeout=30, request_timeout=30)
        for name, fut in futures.items():
            try:
                fut.result()
                print(f"create-topics: created {name} ({wanted[name]} partitions)", file=sys.stderr)
            except KafkaException as e:
                err = e.args[0]
                # A concurrent creator won the race: that is success for us.
                if err.code() == err.TOPIC_ALREADY_EXISTS:
                    continue
                print(f"create-topics: creating {name} failed: {err}", file=sys.stderr)
                rc = 1

    for name, parts in wanted.items():
        if name in existing:
            have = len(existing[name].partitions)
            if have < parts:
                print(f"create-topics: warning: {name} exists with {have} partitions, "
                      f"fewer than the {parts} asked for (not changed)", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
