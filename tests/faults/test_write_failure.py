"""Fault 5: the item table refuses every write for part of the replay, as
on a full disk (SQLSTATE 53100 raised by a trigger on item_versions), then
accepts them again. The service must classify it as transient, pause and
retry, never dead-letter a good item, and finish."""

import time

import pytest

from faultlib import Replay, log_msgs

REFUSE_S = 20

REFUSE = """
CREATE FUNCTION nw_fault_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'could not extend file: No space left on device (injected)'
        USING ERRCODE = '53100';
END $$;
CREATE TRIGGER nw_fault_disk_full BEFORE INSERT ON item_versions
  FOR EACH STATEMENT EXECUTE FUNCTION nw_fault_disk_full();
"""
LIFT = "DROP TRIGGER nw_fault_disk_full ON item_versions; DROP FUNCTION nw_fault_disk_full();"


@pytest.fixture
def replay():
    r = Replay("write_failure", seed=505)
    yield r
    r.close()


def test_item_table_refuses_writes(replay):
    replay.send_feed()
    p = replay.start()
    replay.wait_stored(len(replay.feed.versions) // 4)
    t_on = time.time()
    replay.env.sql(REFUSE)
    at = replay.stored()
    try:
        time.sleep(REFUSE_S)
        assert p.poll() is None, "newswire-ingest died while writes were refused"
        during = replay.stored()
    finally:
        t_off = time.time()
        replay.env.sql(LIFT)
    replay.wait_progress(during, timeout=120)
    recovery = round(time.time() - t_off, 1)
    replay.report["faults"] = [{"what": "BEFORE INSERT trigger raising 53100 (disk full)",
                                "at_s": round(t_on - replay.t0, 1),
                                "refused_s": round(t_off - t_on, 1),
                                "stored_at_start": at, "stored_at_end": during}]
    replay.report["recovery_s"] = {"value": recovery,
                                   "what": "trigger dropped to the next version stored"}
    replay.wait_finished([p], timeout=300)
    assert replay.env.stop(p, timeout=30) == 0
    msgs = [l for l in log_msgs(p) if l.get("msg") == "database unavailable, retrying"]
    assert msgs and all(m["code"] == "53100" for m in msgs), msgs[:3]
    replay.report["retries_logged"] = len(msgs)
    # At most the batch in flight when the trigger appeared got through.
    assert during - at <= 500 * 2, (at, during)
    # Every refused batch had written its similarity rows (fingerprints, band
    # keys, term postings) by then: rolled back with it, none of a version
    # that was never stored. (Writing the postings in a transaction of their
    # own on the second connection, committed just before the batch, was
    # tried: committed regardless of the batch, 120,432 were left here.)
    orphans = replay.env.sql("""
        SELECT (SELECT count(*) FROM sim_terms t
                 WHERE NOT EXISTS (SELECT 1 FROM item_versions v WHERE v.version_pk = t.version_pk)),
               (SELECT count(*) FROM sim_bands b
                 WHERE NOT EXISTS (SELECT 1 FROM item_versions v WHERE v.version_pk = b.version_pk)),
               (SELECT count(DISTINCT version_pk) FROM sim_terms),
               (SELECT count(*) FROM item_versions)""")[0]
    assert orphans[:2] == (0, 0) and orphans[2] > orphans[3] // 2, orphans
    replay.check()
