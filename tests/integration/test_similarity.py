"""Deduplication, versions and similarity links, against the real database
and broker: what the enriched events and the links table say about re-sends,
versions, kills, duplicates under another id, rewrites, updates under a new
id, related coverage from other agencies, clusters, AP halves, and two
replicas storing near-identical items at the same moment."""

import datetime
import json
import os
import sys
import threading
import time

import psycopg2
import pytest

import nwlib
from nwlib import Env, wait_log, wait_until

sys.path.insert(0, os.path.join(nwlib.SOURCE, "tests", "tools"))
import genfeed  # noqa: E402  (the feed generator's per-agency payload makers)

FLOOD = [
    "Floodwaters from the swollen Millbrook River forced about 1,500 residents from their homes "
    "on Wednesday as the river crested nearly four feet above flood stage, county officials said.",
    "Emergency crews closed three bridges and stacked sandbags along Water Street through the "
    "night after a week of heavy rain in the Cascade foothills.",
    "Governor Elena Petrova declared a state of emergency for Lane County and asked the National "
    "Guard to help with evacuations in the low-lying Riverside and Mill End neighbourhoods.",
    "The county opened two shelters at local high schools and said no injuries had been reported "
    "by late Wednesday, although several roads remained under water.",
    "Forecasters said the river would stay above flood stage until Friday, with more rain "
    "expected over the weekend across the region.",
]
FLOOD_MORE = [
    "By Thursday morning the water had reached the old cannery district, where volunteers "
    "worked with firefighters to move stock from shops and warehouses to higher ground.",
    "Officials said the damage could exceed 40 million dollars once the water receded and "
    "inspectors were able to check the bridges and the main water treatment plant.",
]
FLOOD_OTHER_AGENCY = [
    "Some 1,500 people have fled their homes in the US state of Oregon as the Millbrook River "
    "burst its banks after days of torrential rain, local authorities said Wednesday.",
    "Governor Elena Petrova declared a state of emergency for Lane County, where rescuers "
    "evacuated residents of riverside districts by boat and the National Guard was called in.",
    "Three bridges were closed and shelters opened in two high schools, officials said, adding "
    "that nobody had been hurt so far.",
    "Meteorologists warned that more rain was on the way and that the river would remain above "
    "flood stage until at least Friday.",
]


def minute_now():
    """The present as genfeed's item minute (minutes since genfeed.T0)."""
    return int((datetime.datetime.utcnow() - genfeed.T0).total_seconds() // 60)


def story(provider, sid, slug="Oregon-flood", place="Millbrook", by="Dana Whitfield", t0=600):
    return {"provider": provider, "id": sid, "vbase": 500000000, "t0": genfeed.when(t0),
            "by": by, "slug": slug, "place": place}


def payload(st, version, kind, paras, minute, headline):
    return genfeed.MAKERS[st["provider"]](st, version, kind, paras, genfeed.when(minute), headline,
                                         st["place"])


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


SIM_LOCK_KEY = 7234092331209  # the similarity step's advisory lock (common/store_write.c)


def lock_waits(env, where, args=()):
    """Lock requests of this test's database not granted yet, among those
    matching where (on pg_locks l and pg_class c)."""
    (n,), = env.sql("""SELECT count(*) FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
                        WHERE NOT l.granted AND (%s)
                          AND l.database = (SELECT oid FROM pg_database
                                             WHERE datname = current_database())""" % where, args)
    return n


def events_of(env, n, timeout=60):
    ev = env.read(env.enriched, n, timeout=timeout)
    return [json.loads(e["value"]) for e in sorted(ev, key=lambda e: (e["partition"], e["offset"]))]


def one(events, **match):
    got = [e for e in events if all(e.get(k) == v for k, v in match.items())]
    assert len(got) == 1, (match, [(e["kind"], e["provider"], e["story_id"], e["version"]) for e in events])
    return got[0]


def story_links(env):
    """The links table by story: (from story_id, relation, to story_id), from
    the newer version to the older."""
    return env.sql("""SELECT f.story_id, l.relation, t.story_id FROM links l
                        JOIN item_versions f ON f.version_pk = l.from_version_pk
                        JOIN item_versions t ON t.version_pk = l.to_version_pk""")


def assert_pairs_linked_in_one_cluster(env, pairs):
    """Each (story_id, story_id) pair linked as copies (duplicate,
    near-duplicate, update) either way, and in one cluster."""
    copies = [{f, t} for f, rel, t in story_links(env)
              if rel in ("near_duplicate_of", "duplicate_of", "update_of")]
    cluster = dict(env.sql("SELECT story_id, cluster_id FROM stories"))
    for a, b in pairs:
        assert {a, b} in copies, (a, b, copies)
        assert cluster[a] == cluster[b], (a, b, cluster[a], cluster[b])


def test_versions_duplicates_rewrites_related_clusters(env, tmp_path):
    """One feed, in order: a Reuters story; its exact copy under another guid
    (a re-send in another product); an UPDATE under a brand-new guid that adds
    paragraphs; AFP's own story about the same flood; then a new version of
    the first story, and an older version of it arriving late."""
    p = env.start_ingest()
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    head = "Floodwaters force 1,500 from homes as Millbrook River crests"
    rtr = story("reuters", "L8N3FLOOD1")
    rtr_copy = story("reuters", "L8N3FLOOD2")
    rtr_upd = story("reuters", "L8N3FLOOD3")
    afp = story("afp", "TX-PAR-FLD01", slug="US-weather-flood")
    files = [
        write(tmp_path, "1.xml", payload(rtr, 0, "new", FLOOD, 610, head)),
        write(tmp_path, "2.xml", payload(rtr_copy, 0, "new", FLOOD, 612, head)),
        write(tmp_path, "3.xml", payload(rtr_upd, 0, "new", FLOOD + FLOOD_MORE, 700, "UPDATE 1-" + head)),
        write(tmp_path, "4.xml", payload(afp, 0, "new", FLOOD_OTHER_AGENCY, 640,
                                          "Oregon flood forces 1,500 from their homes")),
    ]
    for f in files:  # one at a time: the order the agencies sent them
        env.feed(f)
        time.sleep(0.3)
    ev = events_of(env, 4)
    first = one(ev, story_id="tag:reuters.com,2026:newsml_L8N3FLOOD1")
    assert first["kind"] == "new"

    dup = one(ev, story_id="tag:reuters.com,2026:newsml_L8N3FLOOD2")
    assert dup["kind"] == "duplicate"  # the copy (sent later) names the original
    assert dup["links"][0]["relation"] == "duplicate_of"
    assert dup["links"][0]["story_id"] == first["story_id"]
    assert dup["links"][0]["score"] >= 0.8

    upd = one(ev, story_id="tag:reuters.com,2026:newsml_L8N3FLOOD3")
    assert upd["kind"] == "update_of", upd["links"]
    assert upd["links"][0]["relation"] == "update_of"
    assert upd["links"][0]["story_id"] in (first["story_id"], dup["story_id"])

    other = one(ev, provider="afp")
    assert other["kind"] == "new"  # not a copy: its own words
    rel = [l for l in other["links"] if l["relation"] == "related"]
    assert rel, other["links"]
    assert {l["story_id"] for l in rel} & {first["story_id"], dup["story_id"], upd["story_id"]}
    assert all(0 < l["score"] <= 1 for l in rel)
    assert [l["score"] for l in rel] == sorted((l["score"] for l in rel), reverse=True)

    # one cluster for the whole flood coverage: the first stored story's
    cluster = min(e["story_pk"] for e in (first, dup, upd, other))
    assert {e["cluster_id"] for e in (first, dup, upd, other)} == {cluster}
    assert env.sql("SELECT DISTINCT cluster_id FROM stories") == [(cluster,)]
    assert env.sql("SELECT DISTINCT cluster_id FROM item_versions") == [(cluster,)]

    # the links table holds the same, from the newer version to the older
    rows = story_links(env)
    assert ("tag:reuters.com,2026:newsml_L8N3FLOOD2", "duplicate_of",
            "tag:reuters.com,2026:newsml_L8N3FLOOD1") in rows
    assert any(r[0].endswith("L8N3FLOOD3") and r[1] == "update_of" for r in rows)

    # a new version of the first story keeps the cluster; an older one
    # arriving late is stored but changes nothing and makes no event
    v1 = write(tmp_path, "5.xml", payload(rtr, 2, "updated", FLOOD + FLOOD_MORE[:1], 720, head))
    v_old = write(tmp_path, "6.xml", payload(rtr, 1, "updated", FLOOD, 650, head))
    env.feed(v1)
    time.sleep(0.5)
    env.feed(v_old)
    ev = events_of(env, 5, timeout=30)
    assert len(ev) == 5
    newer = one(ev, story_id=first["story_id"], kind="updated")
    assert newer["version"] == str(500000000 + 2 * 7919)
    assert newer["cluster_id"] == cluster
    assert newer["links"][0]["relation"] == "previous_version"
    assert newer["links"][0]["version_pk"] == first["version_pk"]
    wait_until(lambda: env.sql("SELECT count(*) FROM item_versions WHERE story_id = %s",
                               (first["story_id"],)) == [(3,)], what="late version stored")
    cur = env.sql("""SELECT v.version FROM stories s JOIN item_versions v
                      ON v.version_pk = s.current_version_pk WHERE s.story_id = %s""", (first["story_id"],))
    assert cur == [(newer["version"],)]
    time.sleep(2)
    assert len(env.read(env.enriched, 5, timeout=5)) == 5  # still no event for the late one
    env.stop(p)


@pytest.mark.parametrize("read_connection", ["true", "false"])
def test_one_batch_links_its_own_items(env, tmp_path, read_connection):
    """The first four stories above sent at once, so that one batch stores
    them together. With pg.read.connection (the default) a second connection
    reads the batch's candidates while the first writes its rows, so it
    cannot see them and matches the batch's own items in memory; without it
    they are read back in the batch transaction. Either way: the copy is a
    duplicate of the first story, the rewrite an update of it, AFP's story
    related, and all four one cluster."""
    p = env.start_ingest(NEWSWIRE_PG_READ_CONNECTION=read_connection,
                         NEWSWIRE_BATCH_WAIT_MS="3000")
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    head = "Floodwaters force 1,500 from homes as Millbrook River crests"
    rtr = story("reuters", "L8N3FLOOD1")
    files = [
        write(tmp_path, "1.xml", payload(rtr, 0, "new", FLOOD, 610, head)),
        write(tmp_path, "2.xml", payload(story("reuters", "L8N3FLOOD2"), 0, "new", FLOOD, 612, head)),
        write(tmp_path, "3.xml", payload(story("reuters", "L8N3FLOOD3"), 0, "new",
                                          FLOOD + FLOOD_MORE, 700, "UPDATE 1-" + head)),
        write(tmp_path, "4.xml", payload(story("afp", "TX-PAR-FLD01", slug="US-weather-flood"), 0,
                                          "new", FLOOD_OTHER_AGENCY, 640,
                                          "Oregon flood forces 1,500 from their homes")),
    ]
    env.feed(*files)
    ev = events_of(env, 4)
    batches = [l for l in nwlib.log_lines(p) if l.get("msg") == "batch done"]
    assert [b["messages"] for b in batches] == [4]  # one batch: its items found each other
    newswire_conns = env.sql("SELECT count(*) FROM pg_stat_activity"
                             " WHERE datname = current_database() AND application_name = 'newswire'")
    assert newswire_conns == [(2 if read_connection == "true" else 1,)]

    first = one(ev, story_id="tag:reuters.com,2026:newsml_L8N3FLOOD1")
    assert first["kind"] == "new"
    dup = one(ev, story_id="tag:reuters.com,2026:newsml_L8N3FLOOD2")
    assert dup["kind"] == "duplicate"
    assert dup["links"][0]["relation"] == "duplicate_of"
    assert dup["links"][0]["story_id"] == first["story_id"]
    upd = one(ev, story_id="tag:reuters.com,2026:newsml_L8N3FLOOD3")
    assert upd["kind"] == "update_of", upd["links"]
    assert upd["links"][0]["story_id"] in (first["story_id"], dup["story_id"])
    other = one(ev, provider="afp")
    assert other["kind"] == "new"
    rel = [l for l in other["links"] if l["relation"] == "related"]
    assert {l["story_id"] for l in rel} & {first["story_id"], dup["story_id"], upd["story_id"]}
    cluster = min(e["story_pk"] for e in (first, dup, upd, other))
    assert {e["cluster_id"] for e in (first, dup, upd, other)} == {cluster}
    assert env.sql("SELECT DISTINCT cluster_id FROM stories") == [(cluster,)]
    env.stop(p)


def test_templated_briefs_of_different_companies_are_not_duplicates(env, tmp_path):
    p = env.start_ingest()
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    brief = ("{co} Inc said on Monday its fourth-quarter net income rose to {a} million dollars, "
             "or {b} cents a share, from {c} million dollars a year earlier. Revenue rose {d} percent "
             "to {e} million dollars. Analysts had expected earnings of {f} cents a share, "
             "according to a survey of analysts. Shares rose {g} percent in early trading.")
    a = story("reuters", "L8NBRIEFA1", slug="EARNS-ALPHA")
    b = story("reuters", "L8NBRIEFB1", slug="EARNS-BETA")
    fa = write(tmp_path, "a.xml", payload(a, 0, "new", [brief.format(co="Alphatron", a=10.9, b=34, c=8.1, d=12, e=140.2, f=31, g=4)], 600,
                                           "Alphatron fourth-quarter profit rises"))
    fb = write(tmp_path, "b.xml", payload(b, 0, "new", [brief.format(co="Betacorp", a=22.4, b=51, c=19.0, d=7, e=388.5, f=49, g=2)], 605,
                                           "Betacorp fourth-quarter profit rises"))
    env.feed(fa)
    env.feed(fb)
    ev = events_of(env, 2)
    assert [e["kind"] for e in ev] == ["new", "new"]
    strong = {"duplicate_of", "near_duplicate_of", "update_of", "duplicated_by", "near_duplicated_by", "updated_by"}
    assert not [l for e in ev for l in e["links"] if l["relation"] in strong]
    env.stop(p)


def test_expired_index_rows_are_pruned_at_the_next_start(env, tmp_path):
    """The similarity index keeps 30 days (four windows at least). Items older
    than that, stored by a service that has not been through its daily
    maintenance since (an archive replayed, a long outage), are pruned from
    the index by the next start's maintenance, in bounded steps between
    batches, once their backfill mark is two days old (here: moved back); the
    items, their versions and events stay, and so do the recent items' index
    rows."""
    p = env.start_ingest()
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    now_min = minute_now()
    old_min, new_min = now_min - 45 * 24 * 60, now_min - 60
    files = []
    for i, (minute, paras) in enumerate([(old_min, FLOOD), (old_min + 5, FLOOD_MORE),
                                         (old_min + 9, FLOOD_OTHER_AGENCY), (new_min, FLOOD),
                                         (new_min + 3, FLOOD_OTHER_AGENCY)]):
        st = story("reuters", "L8N3PRUNE%d" % i, t0=minute)
        files.append(write(tmp_path, "%d.xml" % i, payload(st, 0, "new", paras, minute,
                                                         "Millbrook River item %d" % i)))
    env.feed(*files)
    events_of(env, 5)
    in_index = env.sql("""SELECT f.story_id, f.versioncreated < now() - interval '30 days',
                                 (SELECT count(*) FROM sim_bands b WHERE b.version_pk = f.version_pk)
                            FROM sim_fingerprints f ORDER BY 1""")
    assert [r[1] for r in in_index] == [True, True, True, False, False]
    assert all(r[2] > 0 for r in in_index)  # their weeks' partitions made as they came
    env.stop(p)
    assert env.sql("SELECT count(*) FROM sim_backfill_marks") == [(1,)]
    env.sql("UPDATE sim_backfill_marks SET day = day - 2")

    p = env.start_ingest()
    pruned = wait_log(p, lambda l: l.get("msg") == "similarity index pruned")
    assert pruned["rows"] >= 3 and pruned["steps"] >= 1
    left = env.sql("""SELECT f.story_id, (SELECT count(*) FROM sim_bands b WHERE b.version_pk = f.version_pk),
                             (SELECT count(*) FROM sim_terms t WHERE t.version_pk = f.version_pk)
                        FROM sim_fingerprints f ORDER BY 1""")
    assert [r[0] for r in left] == [r[0] for r in in_index[3:]]
    assert all(r[1] > 0 and r[2] > 0 for r in left)
    assert env.sql("SELECT count(*) FROM sim_bands WHERE ts < now() - interval '30 days'") == [(0,)]
    assert env.sql("SELECT count(*) FROM sim_terms WHERE ts < now() - interval '30 days'") == [(0,)]
    assert env.sql("SELECT count(*) FROM item_versions") == [(5,)]
    assert env.sql("SELECT count(*) FROM outbox") == [(5,)]
    env.stop(p)


def test_a_restart_in_the_middle_of_an_archive_backfill_keeps_its_links(env, tmp_path):
    """A new deployment takes live traffic and backfills an archive from
    three months ago beside it. A replica restarted (or one more started to
    go faster) in the middle prunes the index at start: the backfill's mark
    (the oldest item stored today or yesterday) keeps the retention before
    it, so the archive's next items still link to what it stored before. Two
    days after the backfill, the next start prunes the archive as usual."""
    now_min = minute_now()
    at = now_min - 90 * 24 * 60
    head = "Floodwaters force 1,500 from homes as Millbrook River crests"
    live = story("reuters", "L8N3LIVE1", slug="Markets", t0=now_min - 5)
    first = story("reuters", "L8N3BACK1", t0=at)
    p = env.start_ingest()
    env.feed(write(tmp_path, "0.xml", payload(live, 0, "new", FLOOD_MORE, now_min - 5,
                                              "Cannery district cleared")))
    events_of(env, 1)
    env.feed(write(tmp_path, "1.xml", payload(first, 0, "new", FLOOD, at, head)))
    events_of(env, 2)
    assert env.stop(p) == 0

    p = env.start_ingest()
    copy = story("reuters", "L8N3BACK2", t0=at + 3)
    env.feed(write(tmp_path, "2.xml", payload(copy, 0, "new", FLOOD, at + 3, head)))
    ev = events_of(env, 3)
    dup = one(ev, story_id="tag:reuters.com,2026:newsml_L8N3BACK2")
    assert dup["kind"] == "duplicate", dup["links"]
    assert dup["links"][0]["relation"] == "duplicate_of"
    assert dup["links"][0]["story_id"] == "tag:reuters.com,2026:newsml_L8N3BACK1"
    assert env.stop(p) == 0

    env.sql("UPDATE sim_backfill_marks SET day = day - 2")
    p = env.start_ingest()
    pruned = wait_log(p, lambda l: l.get("msg") == "similarity index pruned")
    assert pruned["rows"] >= 2
    assert env.sql("SELECT story_id FROM sim_fingerprints") == [("tag:reuters.com,2026:newsml_L8N3LIVE1",)]
    assert env.sql("SELECT count(*) FROM item_versions") == [(3,)]
    assert env.stop(p) == 0


def test_term_statistics_refresh_does_not_hold_up_the_batches(env, tmp_path):
    """The term statistics (the IDF the fingerprints weigh terms by) are
    recomputed every similarity.idf.refresh.s (an hour by default) from every
    posting of the window: seconds for a heavy feed. The refresh runs on a
    connection of its own, so items go on being stored and published while it
    runs; here it is held up by a lock on sim_idf while items keep coming.
    Once free it finishes and the new statistics are loaded."""
    p = env.start_ingest(NEWSWIRE_SIMILARITY_IDF_REFRESH_S=2)
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    texts = [FLOOD, FLOOD_MORE + FLOOD[:2], FLOOD_OTHER_AGENCY, FLOOD[2:] + FLOOD_MORE,
             FLOOD_OTHER_AGENCY[1:] + FLOOD_MORE]

    def item(i):
        st = story("reuters", "L8N3IDF%d" % i, slug="Oregon-flood-%d" % i, t0=600 + i)
        return write(tmp_path, "%d.xml" % i, payload(st, 0, "new", texts[i], 600 + i,
                                                     "Millbrook River flood, item %d" % i))

    env.feed(item(0))
    events_of(env, 1)  # the statistics are loaded before the first fingerprint
    waiting = lambda: lock_waits(env, "c.relname = 'sim_idf'")
    con = psycopg2.connect(env.dsn)
    try:
        con.cursor().execute("LOCK TABLE sim_idf IN ACCESS EXCLUSIVE MODE")
        # read once no refresh can commit any more (a refresh writes sim_idf)
        (before,), = env.sql("SELECT computed_at FROM sim_idf_meta")
        wait_until(lambda: waiting() == 1, timeout=60, what="the next refresh waiting for sim_idf")
        env.feed(*[item(i) for i in range(1, 5)])
        assert len(events_of(env, 5, timeout=30)) == 5
        assert env.sql("SELECT count(*) FROM item_versions") == [(5,)]
        assert waiting() == 1  # the refresh was held up all along
        assert env.sql("SELECT computed_at FROM sim_idf_meta") == [(before,)]
    finally:
        con.rollback()
        con.close()
    wait_log(p, lambda l: l.get("msg") == "term statistics refreshed", timeout=60)
    (after,), = env.sql("SELECT computed_at FROM sim_idf_meta")
    assert after > before
    assert env.stop(p) == 0


def test_term_statistics_load_does_not_wait_for_a_lock(env, tmp_path):
    """Once a refresh is committed, its statistics are read back on the thread
    that runs the batches. A lock taken on sim_idf in between (here: queued
    behind the refresh, so granted the moment it commits) held every batch up
    for as long as it was held; the read now gives up after a second, the
    refresh is tried again on its own connection, and items keep coming."""
    p = env.start_ingest(NEWSWIRE_SIMILARITY_IDF_REFRESH_S=2)
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")

    def item(i):
        st = story("reuters", "L8N3IDL%d" % i, slug="Oregon-flood-%d" % i, t0=650 + i)
        return write(tmp_path, "%d.xml" % i, payload(st, 0, "new", FLOOD[i:] + FLOOD_MORE, 650 + i,
                                                     "Millbrook River flood, item %d" % i))

    env.feed(item(0))
    events_of(env, 1)
    meta, idf = psycopg2.connect(env.dsn), psycopg2.connect(env.dsn)
    locked = threading.Event()

    def lock_idf():  # granted once the refresh commits, before its statistics are read
        idf.cursor().execute("LOCK TABLE sim_idf IN ACCESS EXCLUSIVE MODE")
        locked.set()

    t = threading.Thread(target=lock_idf)
    try:
        meta.cursor().execute("LOCK TABLE sim_idf_meta IN ACCESS EXCLUSIVE MODE")
        wait_until(lambda: lock_waits(env, "c.relname = 'sim_idf_meta'") == 1, timeout=60,
                   what="a refresh at its last statement (sim_idf_meta)")
        t.start()
        wait_until(lambda: lock_waits(env, "c.relname = 'sim_idf'") == 1, timeout=30,
                   what="the lock on sim_idf queued behind the refresh")
        meta.rollback()
        assert locked.wait(30)
        # the statistics' read (then the next refresh) waiting for sim_idf
        wait_until(lambda: lock_waits(env, "c.relname = 'sim_idf'") == 1, timeout=30,
                   what="the refreshed statistics' read waiting for sim_idf")
        env.feed(*[item(i) for i in range(1, 4)])
        assert len(events_of(env, 4, timeout=30)) == 4
        assert env.sql("SELECT count(*) FROM item_versions") == [(4,)]
        failed = wait_log(p, lambda l: l.get("msg", "").startswith("term statistics refresh failed"),
                          timeout=5)
        assert "lock timeout" in failed["reason"], failed
    finally:
        t.join(30)
        meta.close()
        idf.rollback()
        idf.close()
    wait_log(p, lambda l: l.get("msg") == "term statistics refreshed", timeout=60)
    assert env.stop(p) == 0


def test_a_migration_waiting_on_a_busy_replica_does_not_stall_it(env, tmp_path):
    """A rolling upgrade: a new replica's migration (ALTER TABLE stories...)
    asks for an ACCESS EXCLUSIVE lock while a running replica's batch
    transaction holds stories. The batch's candidate read, on the replica's
    second connection, then queues behind the migration's request, and the
    batch waits, in the replica, for that read: a cycle PostgreSQL cannot
    see. The read gives up after pg.read.lock.timeout.ms, the batch is rolled
    back and retried, the migration goes through and the item is stored."""
    p = env.start_ingest(NEWSWIRE_PG_READ_LOCK_TIMEOUT_MS=2000)
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")

    def item(i, paras):
        st = story("reuters", "L8N3MIG%d" % i, slug="Oregon-flood-%d" % i, t0=700 + i)
        return write(tmp_path, "%d.xml" % i, payload(st, 0, "new", paras, 700 + i,
                                                     "Millbrook River flood, item %d" % i))

    env.feed(item(0, FLOOD))
    events_of(env, 1)
    waiting = lambda locktype: lock_waits(env, "l.locktype = %s", (locktype,))
    hold = psycopg2.connect(env.dsn)  # keeps the batch between its story rows and its similarity step
    hold.autocommit = True
    hold.cursor().execute("SELECT pg_advisory_lock(%s)", (SIM_LOCK_KEY,))
    migration = {}

    def migrate():
        con = psycopg2.connect(env.dsn)
        try:
            cur = con.cursor()
            cur.execute("SET statement_timeout = '60s'")
            cur.execute("LOCK TABLE stories IN ACCESS EXCLUSIVE MODE")
            cur.execute("ALTER TABLE stories ADD COLUMN upgrade_note text")
            con.commit()
            migration["done"] = time.time()
        except psycopg2.Error as e:
            migration["error"] = str(e).strip()
        finally:
            con.close()

    t = threading.Thread(target=migrate)
    try:
        env.feed(item(1, FLOOD[1:] + FLOOD_MORE))
        wait_until(lambda: waiting("advisory") == 1, timeout=60,
                   what="the batch waiting for the similarity step")
        t.start()
        wait_until(lambda: waiting("relation") == 1, timeout=30,
                   what="the migration waiting for the batch's lock on stories")
    finally:
        hold.cursor().execute("SELECT pg_advisory_unlock(%s)", (SIM_LOCK_KEY,))
        hold.close()
    released = time.time()
    t.join(75)
    assert "error" not in migration, migration.get("error")
    assert "done" in migration, "the migration still waits"
    assert migration["done"] - released < 45
    ev = events_of(env, 2)
    assert any(e["story_id"].endswith("L8N3MIG1") for e in ev)
    assert env.sql("SELECT count(*) FROM item_versions") == [(2,)]
    assert env.sql("SELECT count(upgrade_note) FROM stories") == [(0,)]
    line = wait_log(p, lambda l: "lock timeout" in json.dumps(l), timeout=5)
    assert line["msg"] == "batch gave up waiting for a lock, retrying" and line["code"] == "55P03"
    assert env.stop(p) == 0


def test_a_migration_behind_a_long_read_does_not_stall_the_running_replicas(env, tmp_path):
    """A rolling upgrade while an analyst's transaction has read stories and
    stays open: the new replica's migration (ALTER TABLE stories) queues
    behind that read, and the running replica's batches, which write stories,
    queue behind the migration's lock request for as long as the read lasts.
    The migration gives up after pg.migrate.lock.timeout.ms and is tried
    again with back-off; the running replica goes on storing meanwhile; once
    the read ends the migration is applied and the new replica consumes."""
    p = env.start_ingest()
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")

    def item(i):
        st = story("reuters", "L8N3UPG%d" % i, slug="Oregon-flood-upgrade-%d" % i, t0=800 + i)
        return write(tmp_path, "%d.xml" % i, payload(st, 0, "new", FLOOD[i:] + FLOOD_MORE,
                                                     800 + i, "Millbrook River, upgrade %d" % i))

    env.feed(item(0))
    events_of(env, 1)
    migrations = tmp_path / "migrations"  # the new version: the shipped ones and one more
    shipped = os.path.join(nwlib.SOURCE, "schemas", "migrations")
    migrations.mkdir()
    for name in os.listdir(shipped):
        (migrations / name).write_text(open(os.path.join(shipped, name)).read())
    (migrations / "9999_upgrade_note.sql").write_text(
        "ALTER TABLE stories ADD COLUMN upgrade_note text;\n")
    analyst = psycopg2.connect(env.dsn)
    try:
        analyst.cursor().execute("SELECT count(*) FROM stories")  # ACCESS SHARE until it ends
        q = env.start_ingest(name="upgraded", NEWSWIRE_MIGRATIONS_DIR=str(migrations),
                             NEWSWIRE_PG_MIGRATE_LOCK_TIMEOUT_MS=1000, NEWSWIRE_RETRY_MAX_MS=2000,
                             NEWSWIRE_HTTP_ADDR="127.0.0.1:0")
        addr = wait_log(q, lambda l: l.get("msg") == "http listening", timeout=30)["addr"]
        wait_log(q, lambda l: l.get("msg") == "migration waiting for a table lock, retrying",
                 timeout=30)
        # not ready, and saying why: the database answers, the schema is not there yet
        ready = nwlib.http_get("http://%s/readyz" % addr)[:2]
        assert ready[0] == 503 and ready[1].startswith("not ready: schema migrations pending"), ready
        t = time.time()
        for i in range(1, 4):
            env.feed(item(i))
        ev = events_of(env, 4, timeout=45)
        assert {e["story_id"][-8:] for e in ev} == {"L8N3UPG%d" % i for i in range(4)}
        assert time.time() - t < 40
        assert env.sql("SELECT count(*) FROM item_versions") == [(4,)]
        assert p.poll() is None and q.poll() is None
        assert env.sql("SELECT count(*) FROM schema_migrations WHERE name = '9999_upgrade_note.sql'"
                       ) == [(0,)]
    finally:
        analyst.rollback()
        analyst.close()
    wait_log(q, lambda l: l.get("msg") == "database schema ready", timeout=30)
    assert env.sql("SELECT count(*) FROM schema_migrations WHERE name = '9999_upgrade_note.sql'"
                   ) == [(1,)]
    assert env.sql("SELECT count(upgrade_note), count(*) FROM stories") == [(0, 4)]
    wait_log(q, lambda l: l.get("msg") == "partitions assigned" and l["count"] > 0, timeout=60)
    assert env.stop(q) == 0
    # its partitions back to the first replica (a second assignment) before that one stops
    wait_until(lambda: sum(1 for l in nwlib.log_lines(p) if l.get("msg") == "partitions assigned"
                           and l["count"] > 0) >= 2, timeout=60, what="the partitions back")
    assert env.stop(p) == 0


def test_ap_halves_in_either_order(env, tmp_path):
    """AP metadata JSON and its NITF body as two messages: joined in either
    order, stored once, one event; a redelivered half changes nothing."""
    p = env.start_ingest()
    wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    env_doc = json.load(open(os.path.join(nwlib.FIXTURES, "sample-feed", "01-ap-flood.json")))
    item, nitf = env_doc["item"], env_doc["nitf"]
    itemid = item["altids"]["itemid"]
    headers = lambda fmt, key: [("newswire-agency", b"ap"), ("newswire-format", fmt.encode()),
                                ("newswire-pair-key", key.encode())]
    # item 1: metadata first; item 2 (another id): body first
    item2 = json.loads(json.dumps(item))
    item2["altids"] = {"itemid": "1" * 32, "etag": "1" * 32 + "_x"}
    env.produce(env.raw, json.dumps(item).encode(), key=b"ap:a", headers=headers("ap-media-json", itemid + ".0"))
    env.produce(env.raw, nitf.encode(), key=b"ap:b", headers=headers("ap-nitf", "1" * 32 + ".0"))
    wait_until(lambda: env.sql("SELECT count(*) FROM pending_parts") == [(2,)], what="two halves held")
    assert env.read(env.enriched, 0, timeout=3, settle=2) == []
    env.produce(env.raw, nitf.encode(), key=b"ap:c", headers=headers("ap-nitf", itemid + ".0"))
    env.produce(env.raw, json.dumps(item2).encode(), key=b"ap:d", headers=headers("ap-media-json", "1" * 32 + ".0"))
    ev = events_of(env, 2)
    assert sorted(e["story_id"] for e in ev) == sorted(["tag:ap.org,2011:" + itemid, "tag:ap.org,2011:" + "1" * 32])
    for e in ev:
        assert any("Millbrook River crested" in b["value"] for b in e["item"]["bodies"])
        assert e["item"]["headlines"][0]["value"].startswith("Floodwaters close bridges")
    assert env.sql("SELECT count(*) FROM pending_parts") == [(0,)]
    assert env.sql("SELECT count(*), count(DISTINCT story_id) FROM item_versions") == [(2, 2)]
    raw = env.sql("SELECT raw FROM item_versions WHERE story_id = %s", ("tag:ap.org,2011:" + itemid,))[0][0]
    stored = json.loads(bytes(raw))
    assert "nitf" in stored and stored["item"]["altids"]["itemid"] == itemid
    # the metadata half again: a redelivery, the original event again
    env.produce(env.raw, json.dumps(item).encode(), key=b"ap:e", headers=headers("ap-media-json", itemid + ".0"))
    ev = env.read(env.enriched, 3, timeout=30)
    assert len(ev) == 3
    ids = [e["headers"]["ce_id"] for e in ev]
    assert len(set(ids)) == 2
    assert env.sql("SELECT count(*) FROM item_versions") == [(2,)]
    env.stop(p)


@pytest.fixture
def env2(request):
    e = Env(request.node.name, partitions=2)
    yield e
    e.close()


def test_two_replicas_link_near_identical_items_stored_at_once(env2, tmp_path):
    """Two replicas, one partition each; pairs of near-identical items from
    two agencies produced at the same instant to the two partitions. Every
    pair must end up linked, whichever replica committed first."""
    env = env2
    a = env.start_ingest("a")
    b = env.start_ingest("b")
    for p in (a, b):
        wait_log(p, lambda l: l.get("msg") == "partitions assigned")
    from confluent_kafka import Producer
    pairs = 6
    prod = Producer({"bootstrap.servers": nwlib.brokers(), "linger.ms": 0})
    for k in range(pairs):
        paras = [s.replace("Millbrook", "Millbrook%d" % k).replace("1,500", "%d,500" % (k + 1)) for s in FLOOD]
        x = payload(story("reuters", "L8NPAIR%03dA" % k), 0, "new", paras, 600 + k, "Flood %d" % k)
        y = payload(story("afp", "TX-PAR-PAIR%03d" % k), 0, "new", paras[:-1] + ["Officials gave no new figures."], 600 + k, "Flood %d" % k)
        prod.produce(env.raw, x.encode(), key=("x%d" % k).encode(), partition=0,
                     headers=[("newswire-format", b"reuters-newsml-g2")])
        prod.produce(env.raw, y.encode(), key=("y%d" % k).encode(), partition=1,
                     headers=[("newswire-format", b"afp-newsml-1.2")])
        prod.flush(10)
    ev = events_of(env, 2 * pairs)
    # a rebalance while the second replica joins may replay a batch: repeats
    # carry the same id, so count distinct events
    assert len({e["id"] for e in ev}) == 2 * pairs
    assert_pairs_linked_in_one_cluster(env, [("tag:reuters.com,2026:newsml_L8NPAIR%03dA" % k,
                                              "urn:newsml:afp.com:20261101T000000Z:TX-PAR-PAIR%03d" % k)
                                             for k in range(pairs)])
    env.stop(a)
    env.stop(b)


def owned(p):
    """Partitions a replica holds, from its log (cooperative rebalances log
    what is added and what is taken away)."""
    return sum(l["count"] if l.get("msg") == "partitions assigned" else -l["count"]
               for l in nwlib.log_lines(p) if l.get("msg") in ("partitions assigned", "partitions revoked"))


def waiting(env, event):
    """Backends of this test's database waiting for a lock of that kind
    (pg_stat_activity.wait_event: 'transactionid', 'advisory', ...)."""
    (n,), = env.sql("""SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                         AND wait_event_type = 'Lock' AND wait_event = %s""", (event,))
    return n


def test_a_pair_stored_by_two_replicas_in_either_order_shares_one_cluster(env2, tmp_path):
    """The cluster of linked stories is the smallest story key among them,
    which must be the earliest stored. Replica A takes the keys of its new
    stories, then is held up (here: another transaction inserting the same
    story, until it rolls back) while replica B stores the other agency's
    copy. Before the write lock was taken ahead of the keys, B committed a
    larger key first and A's item, linked to it, kept its own smaller key as
    its cluster: one story, two clusters. Now A holds the lock while it
    waits and B stores after it."""
    env = env2
    a = env.start_ingest("a")
    b = env.start_ingest("b")
    wait_until(lambda: owned(a) == 1 and owned(b) == 1, timeout=60, what="one partition each")
    head = "Floodwaters force 1,500 from homes as Millbrook River crests"
    x = payload(story("reuters", "L8NRACE1A"), 0, "new", FLOOD, 600, head)
    y = payload(story("afp", "TX-PAR-RACE1"), 0, "new", FLOOD[:-1] + ["Officials gave no new figures."],
                601, head)
    hold = psycopg2.connect(env.dsn)
    try:
        hold.cursor().execute("INSERT INTO stories (provider, story_id) VALUES ('reuters', %s)",
                              ("tag:reuters.com,2026:newsml_L8NRACE1A",))
        env.produce(env.raw, x.encode(), key=b"x", partition=0,
                    headers=[("newswire-format", b"reuters-newsml-g2")])
        wait_until(lambda: waiting(env, "transactionid") == 1, timeout=30,
                   what="the replica storing the Reuters story held up")
        env.produce(env.raw, y.encode(), key=b"y", partition=1,
                    headers=[("newswire-format", b"afp-newsml-1.2")])
        wait_until(lambda: waiting(env, "advisory") == 1 or env.sql("SELECT count(*) FROM stories")[0][0] == 1,
                   timeout=30, what="the AFP story stored, or waiting for the write lock")
    finally:
        hold.rollback()
        hold.close()
    ev = events_of(env, 2)
    assert len({e["id"] for e in ev}) == 2
    rows = story_links(env)
    assert len(rows) == 1, rows
    clusters = env.sql("SELECT story_id, story_pk, cluster_id FROM stories ORDER BY story_pk")
    assert len({c for _, _, c in clusters}) == 1, clusters
    assert {e["cluster_id"] for e in ev} == {clusters[0][2]}
    assert env.stop(a) == 0 and env.stop(b) == 0


def test_two_replicas_backfill_an_archive_of_several_weeks(env2, tmp_path):
    """Two replicas backfill an archive from four months ago, six weeks of
    it, both at once: each batch makes the weekly index partitions of its
    items (the other replica's batches holding the DEFAULT partition:
    migration 0009) and notes its oldest item (migration 0010). Every item
    is stored and indexed, every cross-agency pair is linked and shares one
    cluster, and neither replica logs an error."""
    env = env2
    a = env.start_ingest("a")
    b = env.start_ingest("b")
    wait_until(lambda: owned(a) == 1 and owned(b) == 1, timeout=60, what="one partition each")
    now_min = minute_now()
    base = now_min - 120 * 24 * 60
    pairs = 10
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": nwlib.brokers(), "linger.ms": 5})
    for k in range(pairs):
        at = base + k * 4 * 24 * 60  # a pair every 4 days (beyond the 72 h window): six weeks
        paras = [s.replace("Millbrook", "Millbrook%d" % k).replace("1,500", "%d,500" % (k + 1)) for s in FLOOD]
        x = payload(story("reuters", "L8NWEEK%03dA" % k, t0=at), 0, "new", paras, at, "Flood %d" % k)
        y = payload(story("afp", "TX-PAR-WEEK%03d" % k, t0=at + 1), 0, "new",
                    paras[:-1] + ["Officials gave no new figures."], at + 1, "Flood %d" % k)
        prod.produce(env.raw, x.encode(), key=("x%d" % k).encode(), headers=[("newswire-format", b"reuters-newsml-g2")])
        prod.produce(env.raw, y.encode(), key=("y%d" % k).encode(), headers=[("newswire-format", b"afp-newsml-1.2")])
    assert prod.flush(30) == 0
    ev = events_of(env, 2 * pairs, timeout=120)
    assert len({e["id"] for e in ev}) == 2 * pairs
    assert env.sql("SELECT count(*) FROM sim_fingerprints") == [(2 * pairs,)]
    assert env.sql("""SELECT count(*) FROM sim_fingerprints f
                       WHERE NOT EXISTS (SELECT 1 FROM sim_bands b WHERE b.version_pk = f.version_pk)
                          OR NOT EXISTS (SELECT 1 FROM sim_terms t WHERE t.version_pk = f.version_pk)""") == [(0,)]
    weeks = env.sql("""SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                        WHERE i.inhparent = 'sim_bands'::regclass
                          AND c.relname <> 'sim_bands_default'""")[0][0]
    assert weeks >= 5  # the archive's weeks, made as the items came (plus the present ones)
    assert_pairs_linked_in_one_cluster(env, [("tag:reuters.com,2026:newsml_L8NWEEK%03dA" % k,
                                              "urn:newsml:afp.com:20261101T000000Z:TX-PAR-WEEK%03d" % k)
                                             for k in range(pairs)])
    assert env.sql("SELECT count(*) FROM sim_backfill_marks") == [(1,)]
    assert env.stop(a) == 0 and env.stop(b) == 0
    for p in (a, b):
        assert [l for l in nwlib.log_lines(p) if l.get("level") == "error"] == []
