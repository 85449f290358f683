"""Shutdown while a dependency is down: the first SIGTERM drains and exits
within shutdown.timeout.ms even when the broker cannot acknowledge anything;
a second SIGTERM exits at once. Neither loses anything: the restarted
service finishes the replay (3,000 items, audited like the other faults)."""

import signal
import time

import pytest

from faultlib import Replay, ensure_services, local_script, log_msgs, require_local_stack

DEADLINE_MS = 8000


@pytest.fixture
def replay():
    require_local_stack()
    r = Replay("shutdown", seed=606, items=3000)
    yield r
    try:
        ensure_services()
    finally:
        r.close()


def test_sigterm_with_broker_down(replay):
    replay.send_feed()
    exits = []
    for second_signal in (False, True):
        p = replay.start(NEWSWIRE_SHUTDOWN_TIMEOUT_MS=DEADLINE_MS)
        replay.wait_stored((replay.stored() or 0) + 200)
        try:
            local_script("kafka.sh", "stop")
            time.sleep(2)  # the batch in flight now waits for acknowledgements
            t = time.time()
            p.send_signal(signal.SIGTERM)
            if second_signal:
                time.sleep(0.5)
                p.send_signal(signal.SIGTERM)
            rc = p.wait(DEADLINE_MS / 1000 + 10)
            took = time.time() - t
        finally:
            local_script("kafka.sh", "start", "--keep")
        exits.append({"second_signal": second_signal, "rc": rc, "exit_s": round(took, 1)})
        if second_signal:
            assert rc == 128 + signal.SIGTERM and took < 2, exits
        else:
            # drained what it could, then the deadline: 0 (drained) or 3 (deadline passed)
            assert rc in (0, 3) and took < DEADLINE_MS / 1000 + 3, exits
            msgs = [l.get("msg") for l in log_msgs(p)]
            assert "shutting down" in msgs or "shutdown deadline passed, exiting" in msgs
    p = replay.start()
    replay.wait_finished([p], timeout=300)
    assert replay.env.stop(p, timeout=30) == 0
    replay.report["faults"] = exits
    replay.report["recovery_s"] = {"what": "see exits: SIGTERM to process exit", "value": None}
    replay.check()
