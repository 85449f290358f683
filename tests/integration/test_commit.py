"""Offsets are committed after every batch, not only by the auto-committer
every auto.commit.interval.ms (5 s): a replica killed right after a batch
must not make its successor redo (and republish) it. Under repeated crashes
the 5 s window made the group redo the same batches again and again
(tests/faults/test_sigkill.py: 9,500-14,500 repeated events for 10 kills,
0 with the per-batch commit)."""

import os
import signal
import time

import pytest

import nwlib
from nwlib import Env, wait_log, wait_until

SAMPLE = os.path.join(nwlib.FIXTURES, "sample-feed")


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


def test_batch_committed_before_the_auto_commit(env):
    # the auto-committer alone would not commit for a minute
    fast = {"NEWSWIRE_KAFKA__CONSUMER_SESSION_TIMEOUT_MS": 6000}  # the killed member leaves soon
    p = env.start_ingest(NEWSWIRE_KAFKA__CONSUMER_AUTO_COMMIT_INTERVAL_MS=60000, **fast)
    wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
    env.feed(SAMPLE)
    wait_log(p, lambda l: l.get("msg") == "batch done", timeout=60)
    wait_until(lambda: sum(v for v in env.committed().values() if v > 0) == 6, timeout=10,
               what="the batch's offsets committed right after the batch")
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    p2 = env.start_ingest(**fast)
    wait_log(p2, lambda l: l.get("msg") == "partitions assigned", timeout=60)
    time.sleep(3)
    events = env.read(env.enriched, 5, timeout=30, settle=2)
    assert len(events) == 5  # nothing redone after the kill: no repeated event
    assert not [l for l in nwlib.log_lines(p2) if l.get("msg") == "batch done"]
    assert env.stop(p2) == 0
