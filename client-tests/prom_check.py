#!/usr/bin/python3
"""prom_check.py - check a Prometheus text exposition (format 0.0.4) strictly.

  prom_check.py check FILE            every line must parse; exit 1 with the
                                      offending line otherwise
  prom_check.py value FILE SERIES     print one sample's value, SERIES as it
                                      appears in the text: 'ebb_keys{namespace="a"}'

The checks, line by line: HELP and TYPE syntax (HELP text escaping only
backslash and newline); one TYPE per family, before
its samples; sample lines `name{label="value",...} number` with valid names,
escapes and numbers; the samples of a family contiguous; no series twice;
counters named *_total and gauges not; histograms with ascending `le`,
non-decreasing cumulative counts, a +Inf bucket equal to _count, and a _sum.
Then the whole text goes through prometheus_client's own parser as an
independent second reading.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL}={VALUE})(?:,{LABEL}={VALUE})*,?)?\}})? (\S+)(?: (-?\d+))?$")
LABEL_PAIR = re.compile(rf"({LABEL})=({VALUE})")
HELP = re.compile(rf"^# HELP ({NAME}) (.*)$")
HELP_TEXT = re.compile(r"^(?:[^\\]|\\[\\n])*$")  # backslash only as \\ or \n
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")


def number(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", text):
        raise ValueError(f"bad number {text!r}")
    return float(text)


def family_of(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return None


def parse(text):
    """Return {series text: value}; raise ValueError on the first bad line."""
    types, helps, samples, done = {}, {}, {}, set()
    current = None
    hist = {}
    if not text.endswith("\n"):
        raise ValueError("the text must end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}: {line!r}"
        if line == "":
            continue
        if line.startswith("#"):
            m = HELP.match(line)
            if m:
                if m.group(1) in helps:
                    raise ValueError(f"{where}: second HELP")
                if not HELP_TEXT.match(m.group(2)):
                    raise ValueError(f"{where}: HELP text escapes only \\\\ and \\n")
                helps[m.group(1)] = m.group(2)
                continue
            m = TYPE.match(line)
            if m:
                name, kind = m.groups()
                if name in types:
                    raise ValueError(f"{where}: second TYPE")
                if name in done or any(family_of(s, {name: kind}) for s in samples):
                    raise ValueError(f"{where}: TYPE after the family's samples")
                if kind == "counter" and not name.endswith("_total"):
                    raise ValueError(f"{where}: a counter's name must end in _total")
                if kind != "counter" and name.endswith("_total"):
                    raise ValueError(f"{where}: only counters end in _total")
                types[name] = kind
                continue
            if line.startswith("# HELP") or line.startswith("# TYPE"):
                raise ValueError(f"{where}: malformed HELP/TYPE")
            continue  # a comment
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"{where}: not a sample line")
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = family_of(name, types)
        if fam is None:
            raise ValueError(f"{where}: sample without a TYPE line before it")
        if fam != current:
            if fam in done:
                raise ValueError(f"{where}: family {fam} is not contiguous")
            if current is not None:
                done.add(current)
            current = fam
        pairs = LABEL_PAIR.findall(labels)
        names = [k for k, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: a label given twice")
        v = number(value)
        key = name + ("{" + labels.rstrip(",") + "}" if labels else "")
        if key in samples:
            raise ValueError(f"{where}: series given twice")
        samples[key] = v
        if types[fam] == "histogram":
            h = hist.setdefault(fam, {"le": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                le = dict(pairs).get("le")
                if le is None:
                    raise ValueError(f"{where}: bucket without le")
                h["le"].append((number(le[1:-1]), v))
            elif name.endswith("_sum"):
                h["sum"] = v
            elif name.endswith("_count"):
                h["count"] = v
    for fam, h in hist.items():
        les = [le for le, _ in h["le"]]
        counts = [c for _, c in h["le"]]
        if not les or les[-1] != math.inf:
            raise ValueError(f"{fam}: no +Inf bucket last")
        if les != sorted(les) or len(set(les)) != len(les):
            raise ValueError(f"{fam}: le not ascending")
        if counts != sorted(counts):
            raise ValueError(f"{fam}: cumulative counts decrease")
        if h["count"] != counts[-1] or h["sum"] is None:
            raise ValueError(f"{fam}: _count must equal the +Inf bucket, and _sum exist")
    for fam in types:
        if fam not in helps:
            raise ValueError(f"{fam}: no HELP line")
    return samples


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "value"):
        sys.exit(__doc__)
    text = open(sys.argv[2], encoding="utf-8").read()
    try:
        samples = parse(text)
    except ValueError as e:
        sys.exit(f"invalid exposition: {e}")
    if sys.argv[1] == "check":
        from prometheus_client.parser import text_string_to_metric_families

        families = list(text_string_to_metric_families(text))
        print(f"ok: {len(families)} families, {len(samples)} samples")
        return
    series = sys.argv[3]
    if series not in samples:
        sys.exit(f"no series {series}")
    v = samples[series]
    print(int(v) if v == int(v) else v)


if __name__ == "__main__":
    main()
