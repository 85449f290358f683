#!/usr/bin/python3
"""Conformance over ../shared/wire-samples: every value wire-samples/README.md lists.

Runs newswire-normalize --with-item on the real agency samples (read in place, never
copied into the repository) and compares. Exit 77 (ctest SKIP_RETURN_CODE) when the
samples are absent. Text is compared after trimming and collapsing whitespace runs,
as the README's conventions say; "-" in the README means the field must be absent.
"""
import html.parser
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.environ.get("NW_SAMPLES", os.path.join(ROOT, "..", "shared", "wire-samples"))
BIN = os.path.join(os.environ.get("NW_BIN", os.path.join(ROOT, "build", "bin")), "newswire-normalize")
FAILS = []
CHECKS = 0


def run(*args):
    p = subprocess.run([BIN, "--with-item", *args], capture_output=True, text=True)
    if p.returncode != 0:
        FAILS.append(f"{args}: exit {p.returncode}: {p.stderr.strip()}")
        return []
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def sample(rel):
    return os.path.join(SAMPLES, rel)


def norm(s):
    return re.sub(r"\s+", " ", s).strip() if isinstance(s, str) else s


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, d):
        self.parts.append(d)

    def handle_starttag(self, tag, attrs):
        self.parts.append(" ")

    def handle_endtag(self, tag):
        self.parts.append(" ")


def body_text(n):
    b = n.get("bodies")
    if not b:
        return None
    t = _Text()
    t.feed(b[0]["value"])
    return norm("".join(t.parts))


def paragraphs(n):
    b = n.get("bodies")
    return len(re.findall(r"<(p|h2|table)\b", b[0]["value"])) if b else 0


def headline(n):
    for h in n.get("headlines", []):
        if h.get("role") == "main":
            return norm(h["value"])
    return None


def iptc(n):
    out = []
    for s in n.get("subjects", []):
        m = re.match(r"http://cv\.iptc\.org/newscodes/subjectcode/(\d{8})$", s.get("uri", ""))
        if m:
            out.append(m.group(1))
    return out


def ap_ids(n, array):
    return [s["uri"].rsplit("/", 1)[1] for s in n.get(array, []) if s.get("uri", "").startswith("http://cv.ap.org/id/")]


def literals(n, array="subjects"):
    return [s.get("literal") for s in n.get(array, []) if s.get("literal") and not s.get("uri")]


def check(label, got, want):
    global CHECKS
    CHECKS += 1
    if isinstance(want, str):
        got = norm(got)
    if got != want:
        FAILS.append(f"{label}: got {got!r}, want {want!r}")


def starts(label, got, prefix):
    global CHECKS
    CHECKS += 1
    if got is None or not got.startswith(norm(prefix)):
        FAILS.append(f"{label}: got {str(got)[:160]!r}..., want prefix {prefix!r}")


def field(n, k):
    return n.get(k)


def common(label, d, want):
    """want: dict of ninjs/item expectations; None = must be absent."""
    i, n = d["item"], d["ninjs"]
    for k, v in want.items():
        if k == "story_id":
            check(f"{label} story id", i["story_id"], v)
            check(f"{label} uri", n["uri"], v)
        elif k == "version":
            check(f"{label} version", n.get("version"), v)
            check(f"{label} item version", i["version"], v if v is not None else "")
        elif k == "headline":
            check(f"{label} headline", headline(n), v)
        elif k == "body":
            starts(f"{label} body", body_text(n), v)
        elif k == "iptc":
            check(f"{label} IPTC subjects", iptc(n), v)
        elif k in ("edit", "is_news", "synthetic_id", "part", "version_order", "version_id", "derived_from"):
            check(f"{label} item.{k}", i[k], v)
        else:
            check(f"{label} {k}", field(n, k), v)


def main():
    if not os.path.isdir(SAMPLES):
        print(f"SKIP: {SAMPLES} absent")
        return 77
    if not os.access(BIN, os.X_OK):
        print(f"newswire-normalize not built at {BIN}")
        return 1

    # ---- AP NewsML-G2: three items -------------------------------------------------
    items = run(sample("ap/ap.xml"))
    check("ap.xml item count", len(items), 3)
    ap = [
        dict(id="5e565888b587889c5c8bd62b6164118c", version="2", seq="1", vc="2018-02-26T21:20:34Z",
             fc="2018-02-26T21:20:36Z", hl="Nutrisystem beats 4Q earnings and revenue expectations",
             located="FORT WASHINGTON, Pa.", g2loc="Pittsburgh", slug="BC-US--Earns-Nutrisystem, 1st Ld-Writethru",
             ednote="Eds: Adds full-year results.",
             subj=["5235a7a088e910048f29f8851349f9bd", "4d3302d8857510048d06ff2260dd383e", "c8e409f8858510048872ff2260dd383e",
                   "11494c9888fc10048d50ba0a2b2ca13e", "523620b888e910048f3af8851349f9bd", "5234f3f088e910048f18f8851349f9bd"],
             orgs=["792af22b8f0b4133ba38fcf117561e66"], places=[],
             body="FORT WASHINGTON, Pa. (AP) _ Nutrisystem Inc. (NTRI) on Monday reported fourth-quarter net income of $10.9 million.",
             paras=10, wc=233),
        dict(id="b6d5d4eb781939b5fe8722f3fba28ee2", version="2", seq="1", vc="2018-02-26T21:22:17Z",
             fc="2018-02-26T21:22:18Z",
             hl="DiamondRock Hospitality posts 4Q FFO of $50.7 million, results top expectations",
             located="BETHESDA, Md.", g2loc="Bethesda", slug="BC-US--Earns-DiamondRock Hospitality, 1st Ld-Writethru",
             ednote="Eds: Adds full-year results.",
             subj=["11494c9888fc10048d50ba0a2b2ca13e", "523620b888e910048f3af8851349f9bd", "5234f3f088e910048f18f8851349f9bd",
                   "4d3302d8857510048d06ff2260dd383e", "c8e409f8858510048872ff2260dd383e", "5235a7a088e910048f29f8851349f9bd"],
             orgs=[], places=["b0fa317082b3100484dbdf092526b43e", "661e48387d5b10048291c076b8e3055c",
                              "661850e07d5b100481f7c076b8e3055c", "c01d179082c610048813df092526b43e"],
             body="BETHESDA, Md. (AP) _ DiamondRock Hospitality Co. (DRH) on Monday reported a key measure of profitability",
             paras=11, wc=254),
        dict(id="4db5f9c37aac8924db872ba5a7e287e6", version="1", seq="0", vc="2018-02-26T21:27:09Z",
             fc="2018-02-26T21:27:10Z", hl="Scripps Networks tops 4Q profit and revenue expectations",
             located="KNOXVILLE, Tenn.", g2loc=None, slug="BC-US--Earns-Scripps Networks", ednote=None,
             subj=["11494c9888fc10048d50ba0a2b2ca13e", "523620b888e910048f3af8851349f9bd", "5234f3f088e910048f18f8851349f9bd",
                   "4d3302d8857510048d06ff2260dd383e", "c8e409f8858510048872ff2260dd383e"],
             orgs=["1864e32059c14d468b2dc7f6bda2ec49"],
             places=["62532b5882c7100488cedf092526b43e", "661e48387d5b10048291c076b8e3055c",
                     "661850e07d5b100481f7c076b8e3055c", "6fa40c6a63664d80bf3e0bc5cedd887f"],
             body="KNOXVILLE, Tenn. (AP) _ Scripps Networks Interactive Inc. (SNI) on Monday reported fourth-quarter earnings of $65.9 million.",
             paras=7, wc=190),
    ]
    for k, (d, w) in enumerate(zip(items, ap), 1):
        L = f"ap.xml item {k}"
        n = d["ninjs"]
        common(L, d, {"story_id": "tag:ap.org,2011:" + w["id"], "version": w["version"], "type": "text",
                      "language": "en", "urgency": 4, "pubstatus": "usable", "by": None,
                      "versioncreated": w["vc"], "firstcreated": w["fc"], "headline": w["hl"],
                      "located": w["located"], "slugline": w["slug"], "ednote": w["ednote"],
                      "copyrightholder": "Automated Insights", "iptc": [], "body": w["body"]})
        alt = {a["role"]: a["value"] for a in n.get("altids", [])}
        check(f"{L} raw guid", alt.get("guid"), f"tag:ap.org,2011:{w['id']}-text")
        check(f"{L} recordSequenceNumber", alt.get("recordSequenceNumber"), w["seq"])
        check(f"{L} infosource", [s.get("name") for s in n.get("infosources", [])], ["Automated Insights"])
        check(f"{L} AP category", literals(n), ["f"])
        check(f"{L} AP subjects", ap_ids(n, "subjects"), w["subj"])
        check(f"{L} organisations", ap_ids(n, "organisations"), w["orgs"])
        check(f"{L} places (apgeography)", ap_ids(n, "places"), w["places"])
        check(f"{L} G2 located place", [p["name"] for p in n.get("places", []) if p.get("rel") == "located"],
              [w["g2loc"]] if w["g2loc"] else [])
        check(f"{L} paragraphs", paragraphs(n), w["paras"])
        check(f"{L} wordcount", n["bodies"][0].get("wordcount"), w["wc"])
        check(f"{L} version order (JSON scale)", d["item"]["version_order"], w["seq"])
    if len(items) == 3:
        check("ap.xml item 3 &amp; decoded", "Standard & Poor's" in body_text(items[2]["ninjs"]), True)

    # ---- AP NITF alone -----------------------------------------------------------------
    for d in run(sample("ap/ap-nitf.xml")):
        common("ap-nitf.xml", d, {"synthetic_id": True, "version": None, "versioncreated": "2015-12-10T19:10:44Z",
                                  "headline": "Can trading pollution like stocks help fight climate change?",
                                  "by": "By BERNARD CONDON", "located": "NEW YORK", "language": None,
                                  "urgency": None, "pubstatus": None, "ednote": "For global distribution",
                                  "subjects": None,
                                  "body": "NEW YORK (AP) \u2014 The gas produced by hog manure at farms across the U.S. punches holes in the ozone layer,"})
        check("ap-nitf.xml paragraphs", paragraphs(d["ninjs"]), 28)

    # ---- AP ANPA -----------------------------------------------------------------------
    for d in run(sample("ap/ap_anpa-1.tst")):
        n = d["ninjs"]
        common("ap_anpa-1.tst", d, {"synthetic_id": True, "version": None, "versioncreated": "2016-02-20T03:37:00Z",
                                    "headline": "Deng has 30 points, short-handed Heat beat Hawks 115-111",
                                    "by": "By CHARLES ODUM", "located": "ATLANTA", "language": None, "pubstatus": None,
                                    "slugline": "BC-BKN--Heat-Hawks, 1st Ld-Writethru",
                                    "ednote": "Eds: Heat 115, Hawks 111. Updates. With AP Photos.",
                                    "edit": "update",
                                    "body": "ATLANTA (AP) _ Luol Deng scored 30 points and Josh McRoberts had 19 _ season highs for each player _ and the Miami Heat,"})
        # README: no urgency field in the format; the priority letter r maps to 4 in AP's table
        check("ap_anpa-1.tst urgency (letter r)", n.get("urgency") in (None, 4), True)
        check("ap_anpa-1.tst category/desk", literals(n)[:2], ["z", "BKN"])
        check("ap_anpa-1.tst IPTC from desk", iptc(n), ["15008000"])

    # ---- AP Media API: feed entry, item, item + NITF ------------------------------------
    feed = run(sample("ap/ap_media_text_feed.json"))
    check("feed entries", len(feed), 1)
    for d in feed:
        alt = {a["role"]: a["value"] for a in d["ninjs"].get("altids", [])}
        check("feed etag", alt.get("etag"), "5ee9b4b40ea5fe9c9ca60f890fb2e1d9_0a1aza0c0")
        common("feed", d, {"story_id": "tag:ap.org,2011:5ee9b4b40ea5fe9c9ca60f890fb2e1d9", "version": "0", "part": "meta"})
    merged = run("--merge", sample("ap/ap_media_text_item.json"), sample("ap/ap_media_text_nitf.xml"))
    merged += run("--merge", sample("ap/ap_media_text_nitf.xml"), sample("ap/ap_media_text_item.json"))
    check("AP merge either order", len(merged) == 2 and merged[0] == merged[1], True)
    for d in merged[:1]:
        n = d["ninjs"]
        alt = {a["role"]: a["value"] for a in n.get("altids", [])}
        common("ap media", d, {"story_id": "tag:ap.org,2011:5ee9b4b40ea5fe9c9ca60f890fb2e1d9", "version": "0",
                               "versioncreated": "2019-07-03T04:05:12Z", "firstcreated": "2019-07-03T04:05:12Z",
                               "type": "text", "headline": "BC-BBN--Top Ten", "slugline": "BC-BBN--Top Ten",
                               "title": "BBN--Top Ten", "by": None, "located": None, "ednote": None,
                               "language": "en", "urgency": 4, "pubstatus": "usable", "is_news": True,
                               "part": "whole",
                               "body": "BC-BBN--Top Ten BASEBALL'S TOP TEN By The Associated Press NATIONAL LEAGUE"})
        check("ap media etag", alt.get("etag"), "5ee9b4b40ea5fe9c9ca60f890fb2e1d9_0a4aza0c0")
        check("ap media category", literals(n), ["s"])
        check("ap media subjects", ap_ids(n, "subjects"),
              ["94aaa8f88c0c100489d7b9433d2f4c0e", "20dd2c287e4e100488e5d0913b2d075c", "20d82ae87e4e100488a0d0913b2d075c",
               "54df6c687df7100483dedf092526b43e", "039d42210158410db74f393deea38897"])
        check("ap media people", [p["name"] for p in n.get("people", [])], ["Ariane Bellamar"])
        check("ap media places", [p["name"] for p in n.get("places", [])],
              ["San Diego", "California", "United States", "North America", "Wisconsin", "Pittsburgh",
               "Pennsylvania", "Los Angeles"])
        check("ap media table outside block kept", "<table>" in n["bodies"][0]["value"], True)
        first_p = re.search(r"<p>(.*?)</p>", n["bodies"][0]["value"], re.S)
        starts("ap media first <p>", norm(first_p.group(1)) if first_p else None,
               "Yelich, Milwaukee, 31; Alonso, New York, 28;")

    # ---- Reuters NewsML-G2 ---------------------------------------------------------------
    R = "reuters/"
    cases = [
        ("text.xml", dict(story_id="tag:reuters.com,0000:newsml_L4N0BT5PJ", version="263518268",
                          versioncreated="2013-03-01T15:09:04Z", firstcreated="2013-03-01T15:09:04Z",
                          headline="Soccer-Smiling Benitez pleads for support after midweek outburst against opponent",
                          by=None, located=None, language="en", urgency=3, pubstatus="usable", edit="new",
                          iptc=["15054000", "15000000"], slugline="SOCCER-ENGLAND/CHELSEA-BENITEZ",
                          genres=None, ednote="Editorial Note", body="By Toby Davis",
                          copyrightholder="Thomson Reuters"),
         {"other": ["MCC:SPO", "N2:ES", "N2:GB", "N2:SOCC", "N2:SPO", "N2:WEU", "N2:EUROP", "N2:EZC", "a1312cat:s", "MCCL:SPO"],
          "wc": 569}),
        ("tag_reuters.com_0000_newsml_L4N1FL0N0_1132689232.xml",
         dict(story_id="tag:reuters.com,0000:newsml_L4N1FL0N0", version="1132689232",
              versioncreated="2017-01-31T03:47:29Z", firstcreated="2017-01-31T03:47:29Z",
              headline="PRECIOUS-Gold rises as Trump policy fuels safe haven demand", by=None, located=None,
              language="en", urgency=3, pubstatus="usable", edit="update",
              iptc=["04008024", "04012002", "04012004", "04009002", "11000000", "11028000", "10000000"],
              slugline="GLOBAL-PRECIOUS/ (UPDATE 1)", ednote=None,
              body="(Adds comments, detail) * Spot gold may edge up to $1,205 per ounce- technicals",
              copyrightholder="Thomson Reuters"),
         {"other_count": 29, "genres": ["N2:MKTREP", "N2:REP", "N2:MTGFX"],
          "genre_names": ["Market Reports", "Reports", "Media type Graphics"], "wc": 348,
          "contains": "By Arpan Varghese"}),
        ("tag_reuters.com_2014_newsml_KBN0FL0NN_version_5.xml",
         dict(story_id="tag_reuters.com_2014_newsml_KBN0FL0NN", version="5", type="text",
              versioncreated="2014-07-16T15:53:10Z", firstcreated="2014-07-16T08:10:15Z",
              headline="Confident Assad launches new term in stronger position", by="By Marwan Makdisi",
              located="DAMASCUS", language="en-US", urgency=4, pubstatus="usable", edit="update",
              iptc=["02000000", "04005000", "04016014", "11001002", "11002000", "11003000", "11007000", "12010000",
                    "16003000", "16009000"], slugline="US-SYRIA-CRISIS-ASSAD", ednote="This is editorial note.",
              derived_from="tag_reuters.com_2014_newsml_L6N0PR263", body="By Marwan Makdisi DAMASCUS (Reuters) - Bashar al-Assad was sworn in for a new term as Syria's president on Wednesday,",
              copyrightholder="Thomson Reuters"),
         {"wc": 984}),
        ("tag_reuters.com_2014_newsml_KBN0FL0NM_version_10.xml",
         dict(story_id="tag_reuters.com_2014_newsml_KBN0FL0NM", version="10", type="composite",
              versioncreated="2014-07-17T00:24:11Z", firstcreated="2014-07-16T08:10:15Z",
              headline="Confident Assad launches new term in stronger position", by="By Marwan Makdisi",
              located=None, language="en-US", urgency=4, pubstatus="usable", edit="update",
              iptc=["02000000", "04005000", "04016014", "11001002", "11002000", "11003000", "11007000", "12010000",
                    "16003000", "16009000"], slugline="US-SYRIA-CRISIS-ASSAD", ednote=None, bodies=None,
              usageterms="NO ARCHIVAL USE", copyrightholder="Thomson Reuters"),
         {"genre_names": ["Politics", "Elections"],
          "assoc": [("main", "tag_reuters.com_2014_newsml_KBN0FL0NN", "5", "text"),
                    ("main", "tag_reuters.com_2014_newsml_LYNXMPEA6F13M", "1", "picture"),
                    ("main", "tag_reuters.com_2014_newsml_LYNXMPEA6F0MS", "2", "picture"),
                    ("main", "tag_reuters.com_2014_newsml_LYNXMPEA6F0MT", "2", "picture"),
                    ("sidebars_0", "tag_reuters.com_2014_newsml_KBN0FL0ZP", "2", "text")]}),
        ("tag_reuters.com_2016_newsml_L1N14N0FF_version_978556838.xml",
         dict(story_id="tag:reuters.com,0000:newsml_L1N14N0FF", version="978556838",
              versioncreated="2016-01-04T15:43:34Z", firstcreated="2016-01-04T15:43:34Z",
              headline="CORRECTED-S. Illinois battles flooding as Mississippi River builds downstream",
              by=None, located=None, language="en", urgency=3, pubstatus="usable", edit="correction",
              iptc=["04015000", "03000000", "10000000", "03005000", "06011000", "17000000", "06000000", "04009001",
                    "04000000", "11000000", "04008024"], slugline="USA-WEATHER/ (UPDATE 1, PIX, CORRECTED)",
              body="(In Jan. 3 story, corrects last paragraph to reflect that figure on Exxon Mobil terminal refers to capacity, not barrels per day)"),
         {"wc": 562, "paras": 16}),
        ("tag_reuters.com_2016_newsml_L1N14N0FF_version_1542761538.xml",
         dict(story_id="tag:reuters.com,0000:newsml_L1N14N0FF", version="1542761538",
              versioncreated="2016-01-04T16:34:45Z", firstcreated="2016-01-04T16:34:45Z",
              headline="CORRECTED-S. Illinois battles flooding as Mississippi River builds downstream",
              by=None, located=None, language="en", urgency=3, pubstatus="canceled", edit="kill",
              iptc=["03005000", "17000000", "06011000", "04015000", "03000000", "10000000", "06000000", "04009001",
                    "04000000", "11000000", "04008024"], slugline="USA-WEATHER/ (UPDATE 1, PIX, CORRECTED)",
              bodies=None),
         {}),
    ]
    orders = {}
    for fname, want, extra in cases:
        got = run(sample(R + fname))
        check(f"{fname} items", len(got), 1)
        for d in got:
            n = d["ninjs"]
            common(fname, d, want)
            orders[fname] = int(d["item"]["version_order"])
            others = [s["literal"] for s in n.get("subjects", []) if s.get("literal") and not s.get("uri")]
            if "other" in extra:
                check(f"{fname} other codes", others, extra["other"])
            if "other_count" in extra:
                check(f"{fname} non-IPTC codes", len(others), extra["other_count"])
            if "genres" in extra:
                check(f"{fname} genres", [g.get("literal") for g in n.get("genres", [])], extra["genres"])
            if "genre_names" in extra:
                check(f"{fname} genre names", [g.get("name") for g in n.get("genres", [])], extra["genre_names"])
            if "wc" in extra:
                check(f"{fname} wordcount", n["bodies"][0].get("wordcount"), extra["wc"])
            if "paras" in extra:
                check(f"{fname} paragraphs", paragraphs(n), extra["paras"])
            if "contains" in extra:
                check(f"{fname} body contains", extra["contains"] in (body_text(n) or ""), True)
            if "assoc" in extra:
                check(f"{fname} associations",
                      [(a["name"], a["uri"], a.get("version"), a.get("type")) for a in n.get("associations", [])],
                      extra["assoc"])
    check("L1N14N0FF kill orders after the correction",
          orders.get("tag_reuters.com_2016_newsml_L1N14N0FF_version_1542761538.xml", 0) >
          orders.get("tag_reuters.com_2016_newsml_L1N14N0FF_version_978556838.xml", 0), True)

    for d in run(sample(R + "reutersapi_item.json")):
        n = d["ninjs"]
        alt = {a["role"]: a["value"] for a in n.get("altids", [])}
        common("reutersapi_item.json", d, dict(
            story_id="tag:reuters.com,2023:newsml_RC2EQZ9KEA2R", version=None,
            versioncreated="2023-03-24T11:05:25Z", firstcreated="2023-03-24T11:05:25Z",
            headline="Footsteps are seen in a landfill contaminated with arsenic, in the village of Lojane",
            by="OGNEN TEOFILOVSKI", located=None, language="en", urgency=4, pubstatus=None,
            iptc=["06000000", "15054000"], slugline="NORTH MACEDONIA-POLLUTION/",
            body="April 14 (Reuters) - Liverpool have been fined 37,500 pounds ($46,908.75) by the Football Association after their"))
        check("reutersapi usn", alt.get("usn"), "RC2EQZ9KEA2R")
        check("reutersapi other codes", [(s.get("literal"), s.get("name")) for s in n.get("subjects", []) if not s.get("uri")],
              [("MCC:I", None), ("N2:ENV", "Environment"), ("N2:EUROP", "Europe")])

    # ---- AFP ----------------------------------------------------------------------------
    afp = [
        ("afp/afp.xml", [], dict(story_id="urn:newsml:afp.com:20140829T135002Z:TX-PAR-FXW86", version="1",
                                 versioncreated="2014-08-29T13:49:51Z", firstcreated="2014-08-29T13:49:51Z",
                                 headline="Sweden court accepts receivership for Saab carmaker", by=None,
                                 located="STOCKHOLM", language="en", urgency=4, pubstatus="usable",
                                 iptc=["04011002", "04016007", "04000000", "04016038", "04011000"],
                                 slugline="Sweden-SAAB", title="Sweden-China-auto-business-bankruptcy-Saab",
                                 ednote=None, usageterms="NO ARCHIVAL USE",
                                 body="A Chinese-owned company set up to take over Saab's assets after the troubled Swedish carmaker's bankruptcy said on Friday"),
         {"pub": "urn:newsml:afp.com:20140829T135002Z:TX-PAR-FXW86:1", "genres": ["business", "bankruptcy"],
          "last": "hh/ph/ts/hd", "wc": 224}),
        ("afp/afp.com_newsml1.2_sample.xml", [], dict(
            story_id="urn:newsml:afp.com:20210516T080625Z:TX-PAR-WGF71", version="1",
            versioncreated="2021-05-16T08:06:25Z", firstcreated="2021-05-16T08:06:25Z",
            headline="Israel strikes key Hamas targets as UN Security Council to meet",
            by="Adel Zaanoun with Guillaume Lavallee in Jerusalem", located="Gaza City, Palestinian Territories",
            language="en", urgency=4, pubstatus="usable",
            iptc=["16000000", "16002000", "02003000", "11000000", "02000000", "02003001"], slugline=None,
            title="Israel-Palestinians-conflict",
            ednote="RECASTS with attack on Hamas targets, RAISES Gaza death toll, UPDATES throughout",
            body="Israel's army said Sunday it had bombed the home of the political leader of Islamist group Hamas in the Gaza Strip,"),
         {"pub": "urn:newsml:afp.com:20210516T080625Z:TX-PAR-WGF71:1", "genres": ["Article", "Update"],
          "last": "bur-dar-gl/fz", "wc": 1064, "subheads": 3}),
        ("afp/afp20.xml", ["--charset", "utf-8"], dict(
            story_id="urn:newsml:afp.com:20240710:240710125902.qpsp2jzk", version="1",
            versioncreated="2024-07-10T12:59:02Z", firstcreated="2024-07-10T12:59:02Z",
            headline="Décès de Naomi Musenga: l'opératrice du Samu définitivement condamnée", by=None,
            located="Strasbourg", language="fr", urgency=None, pubstatus="usable", iptc=[], genres=None,
            slugline="procès-santé-secours", ednote=None, copyrightnotice="© 2024 AFP",
            body="L'opératrice du Samu condamnée pour non-assistance à personne en danger après avoir raillé au téléphone Naomi Musenga,"),
         {"pub": "urn:newsml:afp.com:20240710:240710125902.qpsp2jzk:1", "paras": 2}),
    ]
    for fname, args, want, extra in afp:
        got = run(*args, sample(fname))
        check(f"{fname} items", len(got), 1)
        for d in got:
            n = d["ninjs"]
            common(fname, d, want)
            alt = {a["role"]: a["value"] for a in n.get("altids", [])}
            check(f"{fname} PublicIdentifier", alt.get("publicidentifier"), extra["pub"])
            check(f"{fname} version id", d["item"]["version_id"], extra["pub"])
            if "genres" in extra:
                check(f"{fname} genres", [g.get("name") for g in n.get("genres", [])], extra["genres"])
            if "wc" in extra:
                check(f"{fname} wordcount", n["bodies"][0].get("wordcount"), extra["wc"])
            if "paras" in extra:
                check(f"{fname} paragraphs", paragraphs(n), extra["paras"])
            if "subheads" in extra:
                check(f"{fname} subheads", n["bodies"][0]["value"].count("<h2>"), extra["subheads"])
                check(f"{fname} subhead text", "- Media offices destroyed -" in n["bodies"][0]["value"], True)
            if "last" in extra:
                paras = re.findall(r"<p>(.*?)</p>", n["bodies"][0]["value"], re.S)
                check(f"{fname} desk initials kept in HTML", norm(paras[-1]) if paras else None, extra["last"])
                check(f"{fname} desk initials stripped for matching",
                      extra["last"] in (d["item"]["body_text"] or ""), False)
    # the encoding trap: honouring the declaration gives mojibake, as the README says
    for d in run(sample("afp/afp20.xml")):
        check("afp20.xml declared ISO-8859-1 honoured", headline(d["ninjs"]).startswith("DÃ©cÃ¨s"), True)

    # ---- ninjs 3.0 examples -------------------------------------------------------------
    nj = [
        ("ninjs/ap_audio.json", dict(story_id="tag:ap.org,2011:8c9f92e2a4414c709a295b449f459a74", version="0",
                                     type="audio", profile="Actuality", versioncreated="2019-11-14T16:17:53Z",
                                     firstcreated="2019-11-14T16:17:53Z",
                                     headline="Next up in impeachment hearings: A parade of key witnesses",
                                     by=None, located="CAPITOL HILL", language="en", urgency=4, pubstatus="usable",
                                     slugline=None, title="Trump Impeachment What s Next-Pelosi 1", ednote=None,
                                     bodies=None),
         dict(cat=[("p", "Political News")],
              subj=["86aad5207dac100488ecba7fa5283c3e", "86c17a007dac1004898fba7fa5283c3e",
                    "86bc3e287dac1004895dba7fa5283c3e", "17092930618f41079a063c02851881a1"],
              info="ASSOCIATED PRESS", rend=3,
              caption="House Speaker Nancy Pelosi says the president committed an impeachable offense.")),
        ("ninjs/ap_image.json", dict(story_id="tag:ap.org,2011:b2b6c3f4642f46deac7509d4db315ca0", version="0",
                                     type="picture", versioncreated="2019-11-15T14:39:44Z",
                                     firstcreated="2019-11-15T13:39:59Z", headline="Turkey Islamic State", by=None,
                                     located=None, language="en", urgency=5, pubstatus="usable",
                                     slugline="Turkey Islamic State", title="Turkey Islamic State",
                                     ednote="TURKEY OUT NOV. 11, 2019 FILE PHOTO", bodies=None),
         dict(cat=[("i", "International News"), ("file", "File photo")], subj=["86aad5207dac100488ecba7fa5283c3e"],
              info="DHA", rend=4, creditline="ASSOCIATED PRESS",
              caption="FILE - In this Monday, Nov. 11, 2019 file photo, a man identified by Turkish media",
              org_uri=("Turkey government", "http://cv.ap.org/id/5f36c12adb1447fa971c2f6d4d272333"))),
        ("ninjs/ap_video.json", dict(story_id="tag:ap.org,2011:0cc82c1e6d284848bf862fdfae3c43c4", version="0",
                                     type="video", versioncreated="2019-11-14T18:50:57Z",
                                     firstcreated="2019-11-14T18:50:56Z",
                                     headline="House leaders double down on impeachment positions", by=None,
                                     located="Washington", language="en", urgency=None, pubstatus="usable",
                                     slugline="US Pelosi McCarthy (CR)", title="US Pelosi McCarthy (CR)",
                                     ednote="APWhollyOwned", bodies=None),
         dict(cat=[("a", "National")],
              subj=["9c0bd01cd7c84527bad1319c99abb3ea", "48612b807c2b4b93bbbacbf54f547ad5",
                    "f25af2d07e4e100484f5df092526b43e", "6e70a850885f10048d0dcb8225d5863e",
                    "3b7438807d7010048477ba7fa5283c3e", "86aad5207dac100488ecba7fa5283c3e",
                    "b6559a30872a10048eadd7c656897a02", "86bc3e287dac1004895dba7fa5283c3e",
                    "86c17a007dac1004898fba7fa5283c3e"],
              info="ASSOCIATED PRESS", rend=10,
              caption="As the Trump impeachment hearings go public, House Democrats are refining the case against")),
    ]
    for fname, want, extra in nj:
        got = run(sample(fname))
        for d in got:
            n = d["ninjs"]
            common(fname, d, want)
            check(f"{fname} category", [(s.get("literal"), s.get("name")) for s in n.get("subjects", []) if not s.get("uri")],
                  extra["cat"])
            check(f"{fname} AP subjects (literal wins)", ap_ids(n, "subjects"), extra["subj"])
            check(f"{fname} subject uri = cv.ap.org + literal",
                  all(s["uri"] == "http://cv.ap.org/id/" + s["literal"] for s in n.get("subjects", []) if s.get("uri")), True)
            check(f"{fname} infosource", [s.get("name") for s in n.get("infosources", [])], [extra["info"]])
            check(f"{fname} renditions", len(n.get("renditions", [])), extra["rend"])
            caps = [x["value"] for x in n.get("descriptions", []) if x.get("role") == "caption"]
            starts(f"{fname} caption", norm(caps[0]) if caps else None, extra["caption"])
            if "creditline" in extra:
                check(f"{fname} creditline", [x["value"] for x in n.get("descriptions", []) if x.get("role") == "creditline"],
                      [extra["creditline"]])
            if "org_uri" in extra:
                check(f"{fname} organisation uri from rel",
                      [(o["name"], o.get("uri")) for o in n.get("organisations", []) if o["name"] == extra["org_uri"][0]],
                      [extra["org_uri"]])
            alt = {a["role"]: a["value"] for a in n.get("altids", [])}
            check(f"{fname} raw uri kept in altids", alt.get("uri", "").startswith("http://api.ap.org/media/v/content/"), True)
            check(f"{fname} 2.1 names only", any(k != k.lower() for k in n), False)

    print(f"{CHECKS} checks, {len(FAILS)} failed")
    for f in FAILS:
        print("FAIL", f)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
