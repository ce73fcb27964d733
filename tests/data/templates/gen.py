#!/usr/bin/env python3
"""Regenerates prometheus.json: runs every case through the real Prometheus template engine
(promtool 2.42, `promtool test rules` for expansions, `promtool check rules` for parse errors)
and records Go's output. Usage: python3 gen.py  (needs promtool on PATH)."""
import ast, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = {"instance": "h.example.com:9100", "job": "node"}
# promtool 2.42 test files have no external_labels/external_url: both are empty there.

def cases():
    with open(os.path.join(HERE, "cases.json")) as f:
        return json.load(f)

def yq(s):
    return json.dumps(s)  # JSON strings are valid YAML double-quoted scalars

def run_exec(cs):
    d = tempfile.mkdtemp()
    rules = ["groups:", "- name: g", "  rules:"]
    series = []
    tests = []
    for i, c in enumerate(cs):
        labels = c.get("labels", LABELS)
        lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        series.append(f"  - series: {yq('c%d{%s}' % (i, lab))}\n    values: {yq(str(c.get('value', '5')))}")
        rules.append(f"  - alert: T{i}\n    expr: c{i} + 0\n    annotations:\n      a: {yq(c['t'])}")
        tests.append(f"  - eval_time: 0m\n    alertname: T{i}\n    exp_alerts: []")
    open(os.path.join(d, "rules.yml"), "w").write("\n".join(rules) + "\n")
    t = ["rule_files: [rules.yml]", "evaluation_interval: 1m",
         "tests:", "- interval: 1m", "  input_series:"] + series + ["  alert_rule_test:"] + tests
    open(os.path.join(d, "t.yml"), "w").write("\n".join(t) + "\n")
    out = subprocess.run(["promtool", "test", "rules", "t.yml"], cwd=d, capture_output=True, text=True)
    text = out.stdout + out.stderr
    got = {}
    for m in re.finditer(r'alertname: T(\d+), time:.*?Annotations:\{a=("(?:[^"\\]|\\.)*")\}', text, re.S):
        got[int(m.group(1))] = ast.literal_eval(m.group(2))
    for i, c in enumerate(cs):
        if i not in got:
            sys.exit(f"no output for case {i} {c}:\n{text[-3000:]}")
        c["expected"] = got[i]

def run_parse(c):
    d = tempfile.mkdtemp()
    open(os.path.join(d, "r.yml"), "w").write(
        "groups:\n- name: g\n  rules:\n  - alert: P\n    expr: vector(1)\n    annotations:\n      a: %s\n" % yq(c["t"]))
    out = subprocess.run(["promtool", "check", "rules", "r.yml"], cwd=d, capture_output=True, text=True)
    text = out.stdout + out.stderr
    m = re.search(r'annotation "a": (.*)', text)
    c["expected"] = m.group(1).strip() if m else None

def main():
    cs = cases()
    ex = [c for c in cs if not c.get("parse")]
    run_exec(ex)
    for c in cs:
        if c.get("parse"):
            run_parse(c)
    json.dump(cs, open(os.path.join(HERE, "prometheus.json"), "w"), indent=1, ensure_ascii=False)
    print(f"{len(cs)} cases")

main()
