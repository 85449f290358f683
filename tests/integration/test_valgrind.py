"""newswire-ingest under valgrind (memcheck): a short pipeline run (the
sample feed, a few hostile items, a row PostgreSQL refuses) ended by SIGTERM
must show no memory error and no leak. Suppressions (tests/valgrind/
newswire.supp) cover only third-party one-time allocations, each documented
there."""

import os
import re
import shutil
import subprocess
import time

import pytest

import hostile
import nwlib
from nwlib import Env, wait_log, wait_until

SUPP = os.path.join(nwlib.SOURCE, "tests", "valgrind", "newswire.supp")
SAMPLE = os.path.join(nwlib.FIXTURES, "sample-feed")


@pytest.fixture
def env(request):
    e = Env(request.node.name)
    yield e
    e.close()


def test_ingest_under_valgrind(env):
    if hostile.sanitized(os.path.join(nwlib.BIN, "newswire-ingest")):
        pytest.skip("an ASan build cannot run under valgrind; the release build's run covers it")
    if not shutil.which("valgrind"):
        pytest.fail("valgrind is not installed (deploy/local/install-deps.sh installs it)")
    vlog = os.path.join(env.logdir, "valgrind.log")
    log = os.path.join(env.logdir, "ingest-valgrind.log")
    cmd = ["valgrind", "--tool=memcheck", "--leak-check=full",
           "--show-leak-kinds=definite,indirect,possible", "--errors-for-leak-kinds=definite,indirect,possible",
           "--error-exitcode=99", "--num-callers=40", "--track-origins=yes",
           "--suppressions=" + SUPP, "--log-file=" + vlog,
           os.path.join(nwlib.BIN, "newswire-ingest")]
    with open(log, "wb") as f:
        p = subprocess.Popen(cmd, env=env.env(NEWSWIRE_SHUTDOWN_TIMEOUT_MS=120000), stdout=f,
                             stderr=subprocess.STDOUT)
    p.logfile = log
    env.procs.append(p)
    wait_log(p, lambda l: l.get("msg") == "partitions assigned", timeout=180)
    env.sql("ALTER TABLE item_versions ADD CONSTRAINT nwt_no_chips"
            " CHECK (headline NOT LIKE 'Dutch chip%%') NOT VALID")  # a row refused: bisect path
    env.feed(SAMPLE)
    picks = {"xxe-file", "deep-json", "invalid-utf8-json", "sql-ninjs", "header-binary",
             "json-truncated", "billion-laughs", "nul-escaped-json"}
    for name, payload, hdrs, _, _ in hostile.small_cases():
        if name in picks:
            env.produce(env.raw, payload, key=name.encode(), headers=hdrs)
    n = 6 + len(picks)
    wait_until(lambda: sum(v for v in env.committed().values() if v > 0) == n, timeout=300,
               what="all %d messages done under valgrind" % n)
    p.send_signal(15)
    rc = p.wait(300)
    report = open(vlog).read()
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", report)
    assert summary, report[-3000:]
    assert rc == 0 and summary.group(1) == "0", report[-8000:]
    for kind in ("definitely", "indirectly", "possibly"):
        m = re.search(kind + r" lost: ([\d,]+) bytes", report)
        assert m is None or m.group(1) == "0", report[-8000:]
    assert "stopped" in open(log).read()
