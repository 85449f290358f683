"""Fault 4: two replicas in one consumer group; a third joins and one
leaves in the middle of the replay. Cooperative-sticky rebalancing moves
partitions while batches are in flight: a revoked partition is not committed
past what was processed, and its new owner continues without loss."""

import time

import pytest

from faultlib import Replay, first_batch_after, log_msgs, wait_log, wait_until


@pytest.fixture
def replay():
    r = Replay("rebalance", seed=404)
    yield r
    r.close()


def assigned(p):
    return [l for l in log_msgs(p) if l.get("msg") == "partitions assigned"]


def test_third_joins_one_leaves(replay):
    replay.send_feed()
    n = len(replay.feed.versions)
    a = replay.start("a")
    b = replay.start("b")
    for p in (a, b):
        wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
    replay.wait_stored(n // 4)

    t_join = time.time()
    at_join = replay.stored()
    c = replay.start("c")
    wait_log(c, lambda l: l.get("msg") == "batch done", timeout=120)
    join_s = first_batch_after(c, t_join)

    replay.wait_stored(at_join + n // 4)
    before = {"a": len(assigned(a)), "c": len(assigned(c))}
    t_leave = time.time()
    at_leave = replay.stored()
    assert replay.env.stop(b, timeout=30) == 0  # SIGTERM: drain, commit, leave the group
    leave_exit_s = round(time.time() - t_leave, 1)
    # a or c takes b's partitions: its next assignment after b left
    wait_until(lambda: len(assigned(a)) > before["a"] or len(assigned(c)) > before["c"],
               timeout=60, what="b's partitions reassigned")
    take_s = round(time.time() - t_leave, 1)

    replay.wait_finished([a, c], timeout=300)
    for p in (a, c):
        assert replay.env.stop(p, timeout=30) == 0
    stored_by = {}
    for name, p in (("a", a), ("b", b), ("c", c)):
        stored_by[name] = sum(l.get("stored", 0) for l in log_msgs(p) if l.get("msg") == "batch done")
    replay.report["faults"] = [
        {"what": "replica c joins", "at_s": round(t_join - replay.t0, 1), "stored_at": at_join},
        {"what": "replica b leaves (SIGTERM)", "at_s": round(t_leave - replay.t0, 1),
         "stored_at": at_leave, "b_exit_s": leave_exit_s}]
    replay.report["stored_by_replica"] = stored_by
    replay.report["recovery_s"] = {"join_to_first_batch_of_c": join_s,
                                   "leave_to_partitions_reassigned": take_s}
    assert all(v > 0 for v in stored_by.values()), stored_by  # every replica did work
    replay.check()
