"""newswire-replay: dead letters go back to the raw topic once their cause
is fixed, and are then stored and published like any other item."""

import json
import os
import subprocess

import pytest

import nwlib
from nwlib import Env, wait_log, wait_until

SAMPLE = os.path.join(nwlib.FIXTURES, "sample-feed")
AFP_STORY = "urn:newsml:afp.com:20261104T093500Z:TX-PAR-QZK42"
# A rule the operators later lift: PostgreSQL refuses the AFP item's row.
RULE = ("ALTER TABLE item_versions ADD CONSTRAINT nwt_no_chips"
        " CHECK (headline NOT LIKE 'Dutch chip%%') NOT VALID")


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


def replay(env, *args):
    return subprocess.run([os.path.join(nwlib.BIN, "newswire-replay"), *args], env=env.env(),
                          capture_output=True, text=True, timeout=120)


def test_fixed_row_is_replayed_stored_and_published(env):
    p = env.start_ingest()
    wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=60)
    env.sql(RULE)
    env.feed(SAMPLE)
    events = env.read(env.enriched, 4, timeout=60)
    dlq = env.read(env.dlq, 2, timeout=30)
    assert len(events) == 4 and len(dlq) == 2
    by_class = {d["headers"]["newswire.error.class"]: d for d in dlq}
    assert sorted(by_class) == ["input", "row"]
    refused = by_class["row"]
    assert refused["headers"]["newswire.error.code"] == "23514"
    assert refused["headers"]["__connect.errors.stage"] == "store"
    assert env.sql("SELECT count(*) FROM item_versions WHERE provider = 'afp'") == [(0,)]
    raw_before = len(env.read(env.raw, 6, timeout=30))

    # --dry-run lists every selected dead letter with its reason, sends nothing
    r = replay(env, "--dry-run", "all")
    assert r.returncode == 0, r.stderr
    listed = [json.loads(l) for l in r.stdout.splitlines()]
    assert sorted(x["class"] for x in listed) == ["input", "row"]
    row = [x for x in listed if x["class"] == "row"][0]
    assert row["code"] == "23514" and "nwt_no_chips" in row["reason"] and row["stage"] == "store"
    assert row["offset"] == refused["offset"]
    assert "2 dead letters read, 2 selected, 2 listed (dry run)" in r.stderr
    # selectors: offsets, code, class; nothing chosen is an error of usage
    r = replay(env, "--dry-run", "%d-%d" % (refused["offset"], refused["offset"]))
    assert [json.loads(l)["code"] for l in r.stdout.splitlines()] == ["23514"]
    r = replay(env, "--dry-run", "code=23514", "class=input")  # both must match: none
    assert r.returncode == 0 and r.stdout == ""
    assert replay(env, "--dry-run").returncode == 2
    assert replay(env, "--dry-run", "12-3").returncode == 2
    assert len(env.read(env.raw, raw_before, timeout=10)) == raw_before

    # the cause is fixed; replay only the refused row
    env.sql("ALTER TABLE item_versions DROP CONSTRAINT nwt_no_chips")
    r = replay(env, "class=row")
    assert r.returncode == 0, r.stderr
    assert "2 dead letters read, 1 selected, 1 sent to " + env.raw in r.stderr

    raw = env.read(env.raw, raw_before + 1, timeout=30)
    again = [m for m in raw if "newswire-replayed-from" in m["headers"]]
    assert len(again) == 1
    h = again[0]["headers"]
    assert h["newswire-replayed-from"] == "%s/%d/%d" % (env.dlq, refused["partition"],
                                                        refused["offset"])
    assert not [k for k in h if k.startswith("__connect.errors.") or k.startswith("newswire.error.")]
    orig = {k: v for k, v in refused["headers"].items()
            if not k.startswith("__connect.errors.") and not k.startswith("newswire.error.")}
    assert {k: v for k, v in h.items() if k != "newswire-replayed-from"} == orig
    assert again[0]["value"] == refused["value"] and again[0]["key"] == refused["key"]

    wait_until(lambda: env.sql("SELECT count(*) FROM item_versions WHERE provider = 'afp'") == [(1,)],
               timeout=60, what="replayed AFP item stored")
    events = env.read(env.enriched, 5, timeout=60)
    afp = [json.loads(e["value"]) for e in events if e["key"] == "afp:" + AFP_STORY]
    assert [e["kind"] for e in afp] == ["new"]
    assert len(env.read(env.dlq, 2, timeout=10, settle=2)) == 2  # not dead-lettered again
    assert env.stop(p) == 0
