#!/usr/bin/env python3
"""Regenerates expected.json: renders every template defined in default.tmpl (Alertmanager
0.25's built-in templates, copied from the Debian package, Apache-2.0) with
`amtool template render` and its fixed example data. Renders that print times (which amtool
takes from the clock) are left out. Usage: python3 gen.py (needs amtool 0.25 on PATH)."""
import json, os, re, subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
tmpl = os.path.join(HERE, "default.tmpl")
names = re.findall(r'define "([^"]+)"', open(tmpl).read())
out = {}
for n in names:
    r = subprocess.run(["amtool", "template", "render", "--template.glob=" + tmpl,
                        "--template.text={{ template \"%s\" . }}" % n], capture_output=True, text=True)
    text = r.stdout if r.returncode == 0 else "ERROR: " + r.stderr.strip()
    if " m=" in text:
        continue
    out[n] = text
json.dump(out, open(os.path.join(HERE, "expected.json"), "w"), indent=1, sort_keys=True)
print(len(out), "of", len(names))
