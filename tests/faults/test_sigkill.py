"""Fault 1: SIGKILL the service at random moments, at least 10 times during
the replay of 20,000 items, restarting it each time. Nothing may be lost:
the outbox republishes what a killed process committed but never sent, and
the group replays what it never committed."""

import random
import statistics
import time

import pytest

from faultlib import Replay, first_batch_after, kill, wait_log

KILLS = 10


@pytest.fixture
def replay():
    r = Replay("sigkill", seed=101)
    yield r
    r.close()


def test_sigkill_ten_times(replay):
    replay.send_feed()
    rng = random.Random(101)
    recoveries, kills = [], []
    for i in range(KILLS):
        t_start = time.time()
        p = replay.start()
        before = replay.stored() or 0
        # Most kills hit a working replica (after its partitions are assigned,
        # anywhere in a batch: parse, COPY, commit, produce, offset store); a
        # few hit it while it starts, joins the group or runs migrations.
        if i in (2, 6):
            time.sleep(rng.uniform(0.05, 1.0))
        else:
            wait_log(p, lambda l: l.get("msg") == "batch done", timeout=120)
            recoveries.append(first_batch_after(p, t_start))
            # A random moment, but before this run's share of the feed is
            # stored: a faster service must still be killed with work left.
            share = len(replay.feed.versions) * (i + 1) // (KILLS + 1)
            until = time.time() + rng.uniform(0.0, 2.5)
            while time.time() < until and (replay.stored() or 0) < share:
                time.sleep(0.1)
        kill(p)
        after = replay.stored() or 0
        kills.append({"at_s": round(time.time() - replay.t0, 1), "stored_before": before,
                      "stored_at_kill": after})
    t_start = time.time()
    p = replay.start()
    replay.wait_finished([p], timeout=300)
    recoveries.append(first_batch_after(p, t_start))
    replay.report["faults"] = kills
    replay.report["kills"] = len(kills)
    rec = [r for r in recoveries if r is not None]
    replay.report["recovery_s"] = {"median": statistics.median(rec), "max": max(rec),
                                   "what": "restart to the first batch done"}
    assert replay.env.stop(p, timeout=30) == 0
    replay.check()
    # at least 10 kills while there was work left
    assert sum(1 for k in kills if k["stored_at_kill"] < len(replay.feed.versions)) >= KILLS
