"""Messages newswire produces never exceed event.max.bytes: a partition must
not stall on an event or a dead letter the broker refuses as too large.
A big event carries a stub of its item; a big dead letter its first bytes,
and newswire-replay restores the whole payload from the raw topic."""

import json
import os
import subprocess
import sys

import pytest

import nwlib
from nwlib import Env, wait_log

sys.path.insert(0, os.path.join(nwlib.SOURCE, "tests", "tools"))
import genfeed  # noqa: E402

LIMIT = 24000


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


def test_big_event_carries_a_stub_and_big_dead_letter_is_cut(env):
    p = env.start_ingest(NEWSWIRE_EVENT_MAX_BYTES=LIMIT)
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    import random
    rng = random.Random(5)
    st = {"provider": "afp", "id": "TX-PAR-BIG01", "vbase": 1, "t0": genfeed.when(10), "by": "x",
          "slug": "big-story", "place": "Lyon"}
    paras = genfeed.paragraphs(rng, 15000)  # ~100 KB of text
    big = genfeed.MAKERS["afp"](st, 0, "new", paras, genfeed.when(11), "A very long story", "Lyon")
    assert len(big) > 3 * LIMIT
    env.produce(env.raw, big.encode(), key=b"afp:big")
    bad = "<NewsML>" + "x" * (3 * LIMIT)  # malformed, and too big for a dead letter
    env.produce(env.raw, bad.encode(), key=b"bad:big", headers=[("newswire-format", b"afp-newsml-1.2")])

    ev = env.read(env.enriched, 1, timeout=60)
    assert len(ev) == 1
    assert len(ev[0]["value"]) < LIMIT
    body = json.loads(ev[0]["value"])
    assert body["item_omitted"] is True
    assert body["item"]["uri"] == "urn:newsml:afp.com:20261101T000000Z:TX-PAR-BIG01"
    assert body["item"]["headlines"][0]["value"] == "A very long story"
    assert "bodies" not in body["item"]
    # the whole item is in PostgreSQL
    (ninjs,) = env.sql("SELECT ninjs FROM item_versions WHERE version_pk = %s", (body["version_pk"],))[0]
    assert sum(len(b["value"]) for b in ninjs["bodies"]) > 3 * LIMIT

    dlq = env.read(env.dlq, 1, timeout=30)
    assert len(dlq) == 1
    d = dlq[0]
    assert len(d["value"]) <= LIMIT
    assert d["headers"]["newswire.dlq.truncated"] == str(len(bad))
    assert bad.encode().startswith(d["value"])

    # replay puts the whole original back on the raw topic
    r = subprocess.run([os.path.join(nwlib.BIN, "newswire-replay"), "all"], env=env.env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    raw = env.read(env.raw, 3, timeout=30)
    replayed = [m for m in raw if "newswire-replayed-from" in m["headers"]]
    assert len(replayed) == 1
    assert replayed[0]["value"] == bad.encode()
    assert "newswire.dlq.truncated" not in replayed[0]["headers"]
    assert env.stop(p) == 0
