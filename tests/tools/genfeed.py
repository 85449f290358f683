#!/usr/bin/env python3
"""Generate a realistic synthetic wire feed for tests and benchmarks.

Writes NDJSON (one raw agency payload per line, as newswire-feed sends it: XML
flattened to one line) and a manifest of what newswire must make of it.

    genfeed.py --items 20000 --bad 20 --seed 7 --out feed.ndjson --manifest feed.json

The text is synthetic (no agency copy): sentences drawn from a Zipfian
vocabulary of ~25,000 words with names and numbers, each story about a topic
that other stories cover too, 300 to 1,500 words per story by default.
The mix follows real feeds: AP Media API JSON with its NITF body, Reuters
NewsML-G2 and AFP NewsML 1.2 items; stories with later versions (updates
that add paragraphs, corrections, kills); exact re-sends; the same story
rewritten by another agency; and, optionally, bad items (truncated XML,
broken JSON, unknown formats, invalid UTF-8).

Manifest: {"versions": [[provider, story_id, version, kind], ...] (kind = the
event newswire publishes: new, updated, corrected, killed), "bad": N,
"resends": N, "messages": N}."""

import argparse
import datetime
import itertools
import json
import random
from xml.sax.saxutils import escape

WORDS = """government minister council court police officials company market shares
prices investors analysts report statement plan budget election vote parliament
agreement talks trade exports imports growth inflation rates bank economy jobs
workers union strike protest crowd city region border army troops ceasefire
aid hospital patients doctors school students teachers water energy power gas
oil climate storm flood fire drought harvest farmers river bridge road rail
airport flight passengers ship port cargo factory plant investment project
contract deal merger profit revenue quarter forecast outlook demand supply
chief executive spokesman spokeswoman president mayor governor senator judge
ruling appeal trial charges investigation evidence witness victims families
residents neighbourhood village capital province district county state nation
league match season team coach players goal final cup title record fans
museum festival film music artist book award prize study scientists research
data survey percent million billion week month year morning evening night""".split()
VERBS = """said announced reported warned confirmed denied agreed rejected approved
launched opened closed raised cut increased reduced expected planned ordered
called urged told asked signed blocked delayed resumed extended""".split()
NAMES = """Anna Keller|Piotr Nowak|Marta Lindqvist|Ilse Berzina|Jonas Meyer|Sofia Rossi|
Ahmed Haddad|Kenji Sato|Laura Garcia|Tomas Novak|Elena Petrova|David Okafor|
Nadia Rahman|Lucas Martin|Chen Wei|Maria Silva|Oskar Berg|Fatima Diallo""".replace("\n", "").split("|")
PLACES = ["Millbrook", "Gdansk", "Eindhoven", "Lyon", "Porto", "Tampere", "Graz", "Bilbao",
          "Utrecht", "Brno", "Kaunas", "Aarhus", "Turin", "Leeds", "Cork", "Ghent"]


# The text's words follow Zipf's law over a vocabulary of ~25,000 types, as
# news copy does: function words at the top ranks (about 40 % of the tokens),
# then common news words, then synthetic words (syllables drawn once, with a
# fixed seed: the same vocabulary for every feed) standing for the long tail
# of names, places, figures and topical terms. Each story is about a topic
# (words and people shared with the other stories of that topic, as wire
# coverage of one event is) plus a few words of its own, so that stories of
# one topic are related and the others are not; a uniform draw from a few
# hundred words instead makes every story look related to every other.
FUNCTION = """the of to and a in that for is on was with he it as at by from his be
have has an are were its their they but not who which this after been also
will had more would than about over up one two new first last when into""".split()


def _vocabulary():
    vr = random.Random(20261129)
    syll = [c + v for c in "bcdfgklmnprstvz" for v in "aeiou"] + ["ar", "en", "or", "is", "an", "el"]
    seen = set(FUNCTION)
    common = [w for w in WORDS + VERBS if not (w in seen or seen.add(w))]
    vr.shuffle(common)
    tail = []
    while len(tail) < 25000:
        w = "".join(vr.choice(syll) for _ in range(vr.choice((2, 2, 3, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            tail.append(w)
    return FUNCTION + common + tail


VOCAB = _vocabulary()
CUM = list(itertools.accumulate(1.0 / (r + 2.7) ** 1.07 for r in range(len(VOCAB))))
TOPICAL = VOCAB[len(FUNCTION) + 300:]          # what a topic or a story is about
FIRST = """Anna Piotr Marta Ilse Jonas Sofia Ahmed Kenji Laura Tomas Elena David Nadia Lucas
Chen Maria Oskar Fatima Ingrid Pavel Amara Yusuf Hana Mateo Rosa Viktor Lena Omar Priya
Samuel Aiko Nikolai Zara Felix Ines Kwame Mei Andrei Clara Diego""".split()
LAST = """Keller Nowak Lindqvist Berzina Meyer Rossi Haddad Sato Garcia Novak Petrova Okafor
Rahman Martin Wei Silva Berg Diallo Jensen Horvat Mensah Kaya Tanaka Ortiz Moreau Ivanova
Costa Bakker Singh Murphy Yilmaz Fischer Kowalski Dubois Park Nilsson Romano Duarte Ali""".split()


def topic(rng, base=None):
    """What a story is about: its topic's words and people (base: a topic
    already covered) and a few words of its own."""
    if base is None:
        base = {"words": rng.sample(TOPICAL, 10),
                "names": ["%s %s" % (rng.choice(FIRST), rng.choice(LAST)) for _ in range(3)]}
    return {"words": base["words"] + rng.sample(TOPICAL, 4), "names": base["names"], "base": base}


def sentence(rng, about=None):
    n = rng.randint(12, 26)
    words = rng.choices(VOCAB, cum_weights=CUM, k=n)
    if about:
        for _ in range(rng.randint(1, max(1, n // 6))):
            words[rng.randrange(n)] = rng.choice(about["words"])
    words.insert(rng.randint(1, 4), rng.choice(VERBS))
    if rng.random() < 0.5:
        name = rng.choice(about["names"]) if about else "%s %s" % (rng.choice(FIRST), rng.choice(LAST))
        words.insert(rng.randint(0, len(words)), name)
    if rng.random() < 0.4:
        words.insert(rng.randint(0, len(words)), str(rng.randint(2, 9800)))
    s = " ".join(words)
    return s[0].upper() + s[1:] + "."


def paragraphs(rng, words, about=None):
    out, count = [], 0
    while count < words:
        p = " ".join(sentence(rng, about) for _ in range(rng.randint(2, 4)))
        out.append(p)
        count += len(p.split())
    return out


def headline(rng, about):
    words = [rng.choice(about["words"]) for _ in range(rng.randint(2, 4))]
    words += [w for w in rng.choices(VOCAB, cum_weights=CUM, k=12) if w not in FUNCTION][:rng.randint(3, 6)]
    rng.shuffle(words)
    return " ".join(words).capitalize()


def ts(t):
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % t


def ts_basic(t):
    return "%04d%02d%02dT%02d%02d%02d+0000" % t


T0 = datetime.datetime(2026, 11, 1)


def when(base_min):
    """A time base_min minutes after 2026-11-01T00:00Z (a tuple for
    formatting): a feed of N items spans N minutes, as an archive does (the
    days used to wrap after 28, which put the items of every 4 weeks into
    the same days)."""
    t = T0 + datetime.timedelta(minutes=base_min)
    return (t.year, t.month, t.day, t.hour, t.minute, (base_min * 7) % 60)


def ap_item(story, version, kind, paras, t, headline, place):
    itemid = story["id"]
    status = "canceled" if kind == "killed" else "usable"
    body = "".join("<p>%s</p>" % escape(p) for p in paras)
    nitf = ('<nitf><head><docdata><date.issue norm="%s"/></docdata></head><body><body.head>'
            '<hedline><hl1>%s</hl1></hedline><byline>By %s</byline></body.head><body.content>'
            '<block id="Main"><p>%s (AP) _ %s</p>%s</block></body.content></body></nitf>') % (
        ts_basic(t).replace("+0000", "Z"), escape(headline), escape(story["by"].upper()),
        escape(place.upper()), escape(paras[0]) if paras else "", body if len(paras) > 1 else "")
    item = {"altids": {"itemid": itemid, "etag": "%s_%da" % (itemid, version)},
            "version": version, "type": "text", "language": "en", "urgency": 4,
            "versioncreated": ts(t), "firstcreated": ts(story["t0"]), "pubstatus": status,
            "signals": ["newscontent"], "headline": headline,
            "slugline": "BC-%s%s" % (story["slug"], ", %s Ld-Writethru" % ("1st", "2nd", "3rd", "4th")[version - 1] if version else ""),
            "located": place.upper(), "bylines": [{"by": "By " + story["by"].upper()}]}
    return json.dumps({"item": item, "nitf": nitf}, separators=(",", ":"))


def reuters_item(story, version, kind, paras, t, headline, place):
    guid = "tag:reuters.com,2026:newsml_" + story["id"]
    ver = str(story["vbase"] + version * 7919)
    ed = {"new": "N", "updated": "U", "corrected": "C", "killed": "D"}[kind]
    stat = "canceled" if kind == "killed" else "usable"
    hl = ("CORRECTED-" if kind == "corrected" else "UPDATE %d-" % version if version and kind == "updated" else "") + headline
    body = "" if kind == "killed" else "".join(
        "<p>%s</p>" % escape(("%s, Nov 4 (Reuters) - " % place.upper() if i == 0 else "") + p) for i, p in enumerate(paras))
    return ('<?xml version="1.0" encoding="UTF-8"?><newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/" '
            'xmlns:rtr="http://www.reuters.com/ns/2003/08/content"><itemSet><newsItem guid="%s" version="%s" '
            'standard="NewsML-G2" xml:lang="en"><itemMeta><itemClass qcode="icls:text"/><versionCreated>%s</versionCreated>'
            '<firstCreated>%s</firstCreated><pubStatus qcode="stat:%s"/><signal qcode="edStat:%s"/></itemMeta>'
            '<contentMeta><urgency>3</urgency><subject qcode="subj:04000000"/><headline>%s</headline>'
            '<slugline separator="-">%s</slugline><language tag="en"/></contentMeta><contentSet>'
            '<inlineXML contenttype="application/xhtml+html"><html xmlns="http://www.w3.org/1999/xhtml"><body>%s'
            '</body></html></inlineXML></contentSet></newsItem></itemSet></newsMessage>') % (
        guid, ver, ts(t).replace("Z", ".000Z"), ts(story["t0"]).replace("Z", ".000Z"), stat, ed,
        escape(hl), escape(story["slug"].upper()), body or "<p/>")


def afp_item(story, version, kind, paras, t, headline, place):
    rev = version + 1
    status = "Canceled" if kind == "killed" else "Usable"
    body = "".join("<p>%s</p>" % escape(p) for p in paras) + "<p>abc/xyz</p>"
    return ('<?xml version="1.0" encoding="utf-8"?><NewsML Version="1.2"><NewsEnvelope><DateAndTime>%s</DateAndTime>'
            '</NewsEnvelope><NewsItem xml:lang="en"><Identification><NewsIdentifier><ProviderId>afp.com</ProviderId>'
            '<DateId>20261101T000000Z</DateId><NewsItemId>%s</NewsItemId><RevisionId PreviousRevision="%d" Update="%s">%d'
            '</RevisionId><PublicIdentifier>urn:newsml:afp.com:20261101T000000Z:%s:%d</PublicIdentifier></NewsIdentifier>'
            '</Identification><NewsManagement><NewsItemType FormalName="News"/><FirstCreated>%s</FirstCreated>'
            '<ThisRevisionCreated>%s</ThisRevisionCreated><Status FormalName="%s"/><Urgency FormalName="4"/>'
            '</NewsManagement><NewsComponent><NewsLines><DateLine>%s, Nov 4, 2026 (AFP) -</DateLine><HeadLine>%s</HeadLine>'
            '<SlugLine>%s</SlugLine></NewsLines><DescriptiveMetadata><Language FormalName="en"/>%s</DescriptiveMetadata>'
            '<ContentItem><DataContent><nitf><body><body.content>%s</body.content></body></nitf></DataContent>'
            '</ContentItem></NewsComponent></NewsItem></NewsML>') % (
        ts_basic(t), story["id"], rev - 1, "N" if rev == 1 else "U", rev, story["id"], rev,
        ts_basic(story["t0"]), ts_basic(t), status, escape(place), escape(headline), escape(story["slug"]),
        '<Genre FormalName="Update"/>' if kind == "updated" else "", body)


MAKERS = {"ap": ap_item, "reuters": reuters_item, "afp": afp_item}


def story_id(provider, story):
    if provider == "ap":
        return "tag:ap.org,2011:" + story["id"]
    if provider == "reuters":
        return "tag:reuters.com,2026:newsml_" + story["id"]
    return "urn:newsml:afp.com:20261101T000000Z:" + story["id"]


def version_str(provider, story, version):
    if provider == "ap":
        return str(version)
    if provider == "reuters":
        return str(story["vbase"] + version * 7919)
    return str(version + 1)


BAD = [
    lambda rng: '<?xml version="1.0"?><newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/"><itemSet><newsItem guid="x"',
    lambda rng: '{"item": {"altids": {"itemid": "%032x"}, "version": ' % rng.getrandbits(128),
    lambda rng: "ZCZC this is not any wire format we know %d" % rng.randint(0, 10 ** 9),
    lambda rng: '<NewsML Version="1.2"><NewsItem><Identification></NewsItem>',
    lambda rng: '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
]


def generate(n_items, n_bad, seed, min_words=300, max_words=1500):
    """Yield (payload str, provider, story_id, version, kind) in feed order;
    provider is None for bad items, kind is "resend" for re-sends."""
    rng = random.Random(seed)
    out, manifest = [], []
    produced, minute = 0, 0
    stories = []
    topics = []                               # the topics in the news, oldest first
    used_ids = set()
    # Kept incrementally (same order as filtering `stories` and `out` each
    # time, so a seed gives the same feed): the scans made 200,000 items take hours.
    live = []                                 # stories with versions still to come
    sent = []                                 # good payloads already in `out`
    bad_at = set(rng.sample(range(n_items), n_bad)) if n_bad else set()
    while produced < n_items:
        if produced in bad_at:
            out.append((rng.choice(BAD)(rng), None, None, None, "bad"))
            produced += 1
            continue
        r = rng.random()
        if live and r < 0.25:                 # a new version of a running story
            s = rng.choice(live)
            v = s["next"]
            s["next"] += 1
            # Only Reuters marks corrections (edStat:C); AP and AFP send an
            # ordinary new version, which newswire reports as an update.
            kind = "killed" if (v == s["nversions"] - 1 and s["kill"]) else \
                   "corrected" if rng.random() < 0.2 and s["provider"] == "reuters" else "updated"
            if kind == "killed":
                s["killed"] = True
            if s["killed"] or s["next"] >= s["nversions"]:
                del live[next(i for i, x in enumerate(live) if x is s)]
            if kind == "updated":
                s["paras"] = s["paras"] + paragraphs(rng, rng.randint(40, 120), s["about"])
            elif kind == "corrected":
                s["paras"] = s["paras"][:-1] + [sentence(rng, s["about"])]
        elif out and r < 0.30:                # an exact re-send of something already sent
            prev = rng.choice(sent)
            out.append((prev[0], prev[1], prev[2], prev[3], "resend"))
            sent.append(out[-1])
            produced += 1
            continue
        else:                                 # a new story (sometimes another agency's take on one)
            provider = rng.choice(["ap", "ap", "reuters", "reuters", "afp"])
            base = rng.choice(stories) if stories and rng.random() < 0.1 else None
            sid = None
            while sid is None or (provider, sid) in used_ids:
                # AFP ids have 20 random bits: a few thousand stories collide,
                # and a colliding "new story" would really be a re-send of
                # another story's version. Draw again (same feed when no collision).
                sid = "%032x" % rng.getrandbits(128) if provider == "ap" \
                    else ("L8N" + "%08X" % rng.getrandbits(32)) if provider == "reuters" \
                    else "TX-PAR-%05X" % rng.getrandbits(20)
            used_ids.add((provider, sid))
            s = {"provider": provider, "id": sid,
                 "vbase": rng.randint(10 ** 8, 2 * 10 ** 9), "t0": when(minute),
                 "by": rng.choice(NAMES), "slug": "%s-%s" % (rng.choice(PLACES), rng.choice(WORDS)),
                 "place": rng.choice(PLACES), "nversions": rng.choice([1, 1, 1, 2, 2, 3, 4]),
                 "kill": rng.random() < 0.03, "killed": False, "next": 1}
            words = rng.randint(min_words, max_words)
            if base:                          # rewrite: shares most paragraphs
                s["about"] = base["about"]
                s["paras"] = [p for p in base["paras"] if rng.random() < 0.8] + paragraphs(rng, 60, s["about"])
                s["headline"] = base["headline"]
            else:                             # most stories follow a topic already in the news
                if topics and rng.random() < 0.65:
                    s["about"] = topic(rng, topics[-1 - min(int(rng.expovariate(1 / 40)), len(topics) - 1)])
                else:
                    s["about"] = topic(rng)
                    topics.append(s["about"]["base"])
                s["paras"] = paragraphs(rng, words, s["about"])
                s["headline"] = headline(rng, s["about"])
            stories.append(s)
            if s["next"] < s["nversions"]:
                live.append(s)
            v, kind = 0, "new"
        minute += 1
        t = when(minute)
        payload = MAKERS[s["provider"]](s, v, kind, s["paras"] if kind != "killed" else [], t, s["headline"], s["place"])
        sid, ver = story_id(s["provider"], s), version_str(s["provider"], s, v)
        out.append((payload, s["provider"], sid, ver, kind))
        sent.append(out[-1])
        produced += 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--bad", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-words", type=int, default=300)
    ap.add_argument("--max-words", type=int, default=1500)
    ap.add_argument("--out", required=True)
    ap.add_argument("--manifest")
    a = ap.parse_args()
    feed = generate(a.items, a.bad, a.seed, a.min_words, a.max_words)
    with open(a.out, "w") as f:
        for payload, *_ in feed:
            f.write(payload.replace("\n", " ") + "\n")
    if a.manifest:
        versions = [[p, s, v, k] for _, p, s, v, k in feed if p and k != "resend"]
        json.dump({"messages": len(feed), "bad": sum(1 for x in feed if x[4] == "bad"),
                   "resends": sum(1 for x in feed if x[4] == "resend"), "versions": versions},
                  open(a.manifest, "w"))


if __name__ == "__main__":
    main()
