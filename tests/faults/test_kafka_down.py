"""Fault 3: the Kafka broker stopped for 20 seconds in the middle of the
replay, then started again with its data (deploy/local/kafka.sh start
--keep). Produces wait for the broker (they are retried, never dropped),
offsets are committed only for acknowledged work, and the service finishes
without losing an item or an event and without a dead letter of a good item."""

import os
import time

import pytest

from faultlib import Replay, ensure_services, local_script, log_msgs, require_local_stack

OUTAGE_S = int(os.environ.get("NW_FAULT_OUTAGE_S", "20"))


@pytest.fixture
def replay():
    require_local_stack()
    r = Replay("kafka_down", seed=303)
    yield r
    try:
        ensure_services()
    finally:
        r.close()


def test_kafka_down_20s(replay):
    replay.send_feed()
    p = replay.start()
    replay.wait_stored(len(replay.feed.versions) // 4)
    try:
        at = replay.stored()
        t_stop = time.time()
        local_script("kafka.sh", "stop")
        time.sleep(max(0, OUTAGE_S - (time.time() - t_stop)))
        assert p.poll() is None, "newswire-ingest died while the broker was down"
        during = replay.stored()
        t_start = time.time()
        local_script("kafka.sh", "start", "--keep")
        t_up = time.time()
    finally:
        ensure_services()
    replay.wait_progress(replay.stored(), timeout=180)
    recovery = round(time.time() - t_up, 1)
    replay.report["faults"] = [{"what": "kafka.sh stop; start --keep",
                                "at_s": round(t_stop - replay.t0, 1),
                                "down_s": round(t_up - t_stop, 1),
                                "start_s": round(t_up - t_start, 1),
                                "stored_at_stop": at, "stored_while_down": during}]
    replay.report["recovery_s"] = {"value": recovery,
                                   "what": "broker ready to the next version stored"}
    replay.wait_finished([p], timeout=300)
    assert replay.env.stop(p, timeout=30) == 0
    replay.report["log_warnings"] = sorted({l.get("msg") for l in log_msgs(p)
                                            if l.get("level") in ("warn", "error")})
    replay.check()
