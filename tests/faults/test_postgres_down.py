"""Fault 2: PostgreSQL stopped for 20 seconds in the middle of the replay,
then started again. The service must pause, retry with capped back-off,
reconnect, and finish: no good item dead-lettered, nothing lost."""

import os
import time

import pytest

from faultlib import Replay, ensure_services, local_script, log_msgs, require_local_stack

OUTAGE_S = int(os.environ.get("NW_FAULT_OUTAGE_S", "20"))


@pytest.fixture
def replay():
    require_local_stack()
    r = Replay("postgres_down", seed=202)
    yield r
    try:
        ensure_services()
    finally:
        r.close()


def test_postgres_down_20s(replay):
    replay.send_feed()
    p = replay.start()
    replay.wait_stored(len(replay.feed.versions) // 4)
    try:
        at = replay.stored()
        t_stop = time.time()
        local_script("postgres.sh", "stop")
        time.sleep(OUTAGE_S - (time.time() - t_stop))
        assert p.poll() is None, "newswire-ingest died while PostgreSQL was down"
        t_start = time.time()
        local_script("postgres.sh", "start")
        t_up = time.time()
    finally:
        ensure_services()
    replay.wait_progress(replay.stored(), timeout=120)
    recovery = round(time.time() - t_up, 1)
    replay.report["faults"] = [{"what": "postgres.sh stop", "at_s": round(t_stop - replay.t0, 1),
                                "down_s": round(t_up - t_stop, 1),
                                "start_s": round(t_up - t_start, 1), "stored_at_stop": at}]
    replay.report["recovery_s"] = {"value": recovery,
                                   "what": "PostgreSQL accepting connections to the next "
                                           "version stored"}
    replay.wait_finished([p], timeout=300)
    assert replay.env.stop(p, timeout=30) == 0
    msgs = [l.get("msg") for l in log_msgs(p)]
    assert "database unavailable, retrying" in msgs
    replay.report["retries_logged"] = msgs.count("database unavailable, retrying")
    replay.check()
