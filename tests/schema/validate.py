#!/usr/bin/python3
"""Every ninjs object newswire-normalize prints for the project's fixtures validates
against the official IPTC ninjs 2.1 JSON Schema (Draft 2020-12, formats checked).

The schema is read from ../shared/schemas/ (never copied into the repository); exit 77
(ctest SKIP_RETURN_CODE) when it or python3-jsonschema is absent. The schema's one
external reference, GeoJSON for places[].geojson, is resolved offline to a minimal
GeoJSON geometry schema instead of being fetched.
"""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.environ.get("NW_NINJS_SCHEMA",
                        os.path.join(ROOT, "..", "shared", "schemas", "ninjs-schema_2.1.json"))
BIN = os.path.join(os.environ.get("NW_BIN", os.path.join(ROOT, "build", "bin")), "newswire-normalize")
FIX = os.path.join(ROOT, "tests", "fixtures", "formats")
GEOJSON = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                          "MultiPolygon", "GeometryCollection", "Feature", "FeatureCollection"]},
        "coordinates": {"type": "array"},
    },
}


def main():
    if not os.path.exists(SCHEMA):
        print(f"SKIP: {SCHEMA} absent")
        return 77
    try:
        from jsonschema import Draft202012Validator, FormatChecker, RefResolver
    except ImportError:
        print("SKIP: python3-jsonschema not installed")
        return 77
    schema = json.load(open(SCHEMA))
    resolver = RefResolver.from_schema(schema)
    resolver.store["https://geojson.org/schema/GeoJSON.json"] = GEOJSON
    v = Draft202012Validator(schema, resolver=resolver, format_checker=FormatChecker())
    bad = total = 0
    for f in sorted(glob.glob(os.path.join(FIX, "*", "*"))):
        if f.endswith((".expected.json", ".opts", ".sh", ".md")):
            continue
        args = []
        opts = os.path.splitext(f)[0] + ".opts"
        if os.path.exists(opts):
            for line in open(opts):
                k, _, val = line.strip().partition("=")
                if k:
                    args.append(f"--{k.replace('_', '-')}={val}")
        p = subprocess.run([BIN, *args, f], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAIL {f}: {p.stderr.strip()}")
            bad += 1
            continue
        for line in p.stdout.splitlines():
            total += 1
            obj = json.loads(line)
            for e in v.iter_errors(obj):
                bad += 1
                print(f"FAIL {os.path.relpath(f, FIX)} {obj.get('uri')}: {e.message} at {list(e.path)}")
    print(f"{total} ninjs objects validated, {bad} errors")
    return 1 if bad or not total else 0


if __name__ == "__main__":
    sys.exit(main())
