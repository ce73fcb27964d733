#!/usr/bin/env python3
"""Checks the blackwatch chart for each values file given (run by helm/test.sh):

1. `helm lint --strict` with the file;
2. `helm template` with the file;
3. every rendered object against the Kubernetes OpenAPI schemas (kubernetes-validate, strict)
   for each --kube-versions entry; the ServiceMonitor (a CRD, not in those schemas) gets a
   structural check of the fields the chart sets;
4. the chart's invariants (security context, probes, ICMP mode, workload kind, labels,
   dashboard content) against the values;
5. the rendered config: the chart's ConfigMaps are written where the pod mounts them (under
   a temporary root) and `blackwatch check config` must accept the config file.

An argument `argocd:PATH` names an Argo CD Application instead: its
spec.source.helm.valuesObject is checked as a values file.

A values file whose first lines contain `# pending-features: F1, F2` may fail step 5 only
with "F is not supported yet by blackwatch" errors for those features (config the chart can
render before the binary supports it); it must pass every other step.
"""

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml
import kubernetes_validate
from kubernetes_validate.utils import ValidationError, SchemaNotFoundError, VersionNotSupportedError


def deep_merge(base, override):
    """Helm's values merge: maps merge recursively, anything else replaces."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Failures:
    def __init__(self, name):
        self.name = name
        self.items = []

    def check(self, cond, msg):
        if not cond:
            self.items.append(msg)
        return cond


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def pending_features(path):
    with open(path) as f:
        for line in f.readlines()[:5]:
            m = re.match(r"#\s*pending-features:\s*(.*)", line)
            if m:
                return [x.strip() for x in m.group(1).split(",") if x.strip()]
    return []


def check_service_monitor(doc, fail):
    spec = doc.get("spec", {})
    fail.check(isinstance(spec.get("selector", {}).get("matchLabels"), dict),
               "ServiceMonitor: spec.selector.matchLabels missing")
    eps = spec.get("endpoints")
    if not fail.check(isinstance(eps, list) and eps, "ServiceMonitor: no endpoints"):
        return
    for ep in eps:
        fail.check(ep.get("port") == "http", f"ServiceMonitor endpoint port {ep.get('port')!r}")
        fail.check(ep.get("path") in ("/metrics", "/probe"), f"ServiceMonitor path {ep.get('path')!r}")
        for key in ("interval", "scrapeTimeout"):
            fail.check(re.fullmatch(r"([0-9]+(ms|s|m|h))+", str(ep.get(key, ""))),
                       f"ServiceMonitor endpoint {key} {ep.get(key)!r}")
        for r in ep.get("metricRelabelings", []) + ep.get("relabelings", []):
            fail.check(set(r) <= {"sourceLabels", "separator", "targetLabel", "regex", "modulus",
                                  "replacement", "action"}, f"ServiceMonitor relabeling keys {sorted(r)}")
    metrics = [ep for ep in eps if ep.get("path") == "/metrics"]
    fail.check(len(metrics) == 1 and metrics[0].get("honorLabels") is True,
               "ServiceMonitor: the /metrics endpoint must have honorLabels: true")
    for ep in eps:
        if ep.get("path") == "/probe":
            params = ep.get("params", {})
            fail.check(params.get("target") and params.get("module"),
                       f"ServiceMonitor /probe endpoint params {params}")


def check_cluster(by_kind, w, pod, c, values, clustered, fail):
    """replicas > 1: gossip flags wired to the headless Service, the UDP port, a PDB, the
    default anti-affinity, the gossip port in the NetworkPolicy. Otherwise none of it."""
    args = c["args"]
    cluster_args = [a for a in args if a.startswith("--cluster.")]
    headless = [s for s in by_kind.get("Service", []) if s["spec"].get("clusterIP") == "None"]
    if not clustered:
        fail.check(not cluster_args, f"cluster flags on a single replica: {cluster_args}")
        fail.check(not headless, "a headless Service for a single replica")
        return
    port = values["cluster"]["port"]
    fail.check(len(headless) == 1, f"want one headless Service, got {len(headless)}")
    if headless:
        svc = headless[0]
        fail.check(svc["spec"].get("publishNotReadyAddresses") is True, "headless Service hides starting replicas")
        fail.check(any(p["port"] == port and p["protocol"] == "UDP" for p in svc["spec"]["ports"]),
                   "headless Service without the UDP cluster port")
        fail.check(w["spec"]["serviceName"] == svc["metadata"]["name"], "StatefulSet serviceName is not the headless Service")
        ns = svc["metadata"]["namespace"]
        peer = f"--cluster.peer={svc['metadata']['name']}.{ns}.svc.{values['cluster']['clusterDomain']}:{port}"
        fail.check(peer in args, f"{peer} missing in {args}")
    fail.check(f"--cluster.listen-address=0.0.0.0:{port}" in args, "--cluster.listen-address missing")
    fail.check(f"--cluster.advertise-address=$(POD_IP):{port}" in args, "--cluster.advertise-address missing")
    fail.check(any(e.get("name") == "POD_IP" for e in c.get("env", [])), "POD_IP env missing")
    fail.check(any(p.get("name") == "cluster" and p["protocol"] == "UDP" for p in c["ports"]), "cluster containerPort missing")
    fail.check(len(by_kind.get("PodDisruptionBudget", [])) == 1, "no PodDisruptionBudget for a cluster")
    if not values.get("affinity"):
        fail.check("podAntiAffinity" in pod.get("affinity", {}), "no default pod anti-affinity")
    if values["networkPolicy"]["enabled"]:
        np = by_kind.get("NetworkPolicy", [{}])[0]
        fail.check(any(any(p.get("port") == "cluster" and p.get("protocol") == "UDP" for p in rule.get("ports", []))
                       for rule in np.get("spec", {}).get("ingress", [])), "NetworkPolicy does not admit gossip")


def check_invariants(docs, values, fail):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    if not fail.check(len(workloads) == 1, f"want one workload, got {[w['kind'] for w in workloads]}"):
        return None
    w = workloads[0]
    persistent = values["persistence"]["enabled"]
    clustered = int(values["replicas"]) > 1
    fail.check(w["kind"] == ("StatefulSet" if persistent or clustered else "Deployment"),
               f"persistence.enabled={persistent}, replicas={values['replicas']} rendered a {w['kind']}")
    pod = w["spec"]["template"]["spec"]
    c = pod["containers"][0]
    args = c["args"]
    check_cluster(by_kind, w, pod, c, values, clustered, fail)
    fail.check(f"--storage.path={values['persistence']['mountPath']}" in args, f"--storage.path missing in {args}")
    storage = [m for m in c["volumeMounts"] if m["name"] == "storage"]
    fail.check(len(storage) == 1 and storage[0]["mountPath"] == values["persistence"]["mountPath"],
               "the storage volume is not mounted at persistence.mountPath")
    if persistent and not values["persistence"]["existingClaim"]:
        vct = w["spec"].get("volumeClaimTemplates", [])
        fail.check(len(vct) == 1 and vct[0]["metadata"]["name"] == "storage"
                   and vct[0]["spec"]["resources"]["requests"]["storage"] == str(values["persistence"]["size"]),
                   "StatefulSet without the storage volumeClaimTemplate")
    elif not persistent:
        fail.check({"name": "storage", "emptyDir": {}} in pod["volumes"], "Deployment without the storage emptyDir")

    fail.check(c["livenessProbe"]["httpGet"]["path"] == "/-/healthy", "liveness probe path")
    fail.check(c["readinessProbe"]["httpGet"]["path"] == "/-/ready", "readiness probe path")
    sc = c["securityContext"]
    psc = pod.get("securityContext", {})
    fail.check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    fail.check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation")
    fail.check(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities.drop != [ALL]")
    sysctls = {s["name"]: s["value"] for s in psc.get("sysctls", [])}
    mode = values["icmp"]["mode"]
    added = sc.get("capabilities", {}).get("add", [])
    if mode == "sysctl":
        fail.check(sysctls.get("net.ipv4.ping_group_range") == values["icmp"]["pingGroupRange"], "ping_group_range sysctl")
        fail.check(added == [], f"sysctl mode adds capabilities {added}")
        fail.check(psc.get("runAsNonRoot") is True, "sysctl mode must run as non-root")
    elif mode == "netRaw":
        fail.check(added == ["NET_RAW"], f"netRaw mode adds {added}")
        fail.check("net.ipv4.ping_group_range" not in sysctls, "netRaw mode also sets the sysctl")
    else:
        fail.check(added == [] and "net.ipv4.ping_group_range" not in sysctls, "icmp.mode=none sets ICMP privileges")
        fail.check(psc.get("runAsNonRoot") is True, "icmp.mode=none must run as non-root")

    svc = [s for s in by_kind.get("Service", []) if s["spec"].get("clusterIP") != "None"]
    fail.check(len(svc) == 1 and svc[0]["spec"]["selector"] == w["spec"]["selector"]["matchLabels"],
               "Service selector != workload selector")
    want_pdb = bool(values["podDisruptionBudget"]) or int(values["replicas"]) > 1
    fail.check(bool(by_kind.get("PodDisruptionBudget")) == want_pdb, "PodDisruptionBudget presence")
    fail.check(bool(by_kind.get("NetworkPolicy")) == values["networkPolicy"]["enabled"], "NetworkPolicy presence")
    fail.check(bool(by_kind.get("Ingress")) == values["ingress"]["enabled"], "Ingress presence")
    fail.check(bool(by_kind.get("ServiceMonitor")) == values["serviceMonitor"]["enabled"], "ServiceMonitor presence")

    if values["existingSecret"]:
        vols = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == values["existingSecret"]]
        mounts = [m for m in c["volumeMounts"] if vols and m["name"] == vols[0]["name"]]
        fail.check(len(mounts) == 1 and mounts[0]["mountPath"] == values["secretsMountPath"] and mounts[0].get("readOnly"),
                   "existingSecret is not mounted read-only at secretsMountPath")

    dashboards = [d for d in by_kind.get("ConfigMap", []) if d["metadata"]["name"].endswith("-dashboards")]
    if values["dashboards"]["enabled"]:
        if fail.check(len(dashboards) == 1, "dashboards.enabled without a dashboard ConfigMap"):
            d = dashboards[0]
            fail.check(d["metadata"]["labels"].get("grafana_dashboard") == "1", "dashboard label grafana_dashboard: \"1\"")
            try:
                dash = json.loads(d["data"]["blackwatch.json"])
            except (KeyError, ValueError) as e:
                fail.check(False, f"dashboard JSON: {e}")
            else:
                exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
                for metric in (r"probe_success\{", r"probe_http_duration_seconds\{",
                               r"probe_ssl_earliest_cert_expiry\{[^}]*\} - time\(\)", r"ALERTS\b"):
                    fail.check(re.search(metric, exprs), f"dashboard has no panel on {metric}")
    else:
        fail.check(not dashboards, "dashboard ConfigMap rendered while dashboards.enabled=false")
    return w


def check_config(docs, workload, values, pending, blackwatch, fail):
    """Lays the rendered ConfigMaps out as the pod mounts them and runs `check config`."""
    pod = workload["spec"]["template"]["spec"]
    c = pod["containers"][0]
    config_arg = next((a for a in c["args"] if a.startswith("--config.file=")), None)
    if not fail.check(config_arg, "no --config.file argument"):
        return "failed"
    config_path = config_arg.split("=", 1)[1]
    maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    with tempfile.TemporaryDirectory() as root:
        laid_out = []
        for v in pod["volumes"]:
            cm = v.get("configMap")
            if not cm or v["name"] not in mounts:
                continue
            if cm["name"] not in maps:
                continue  # a ConfigMap the user manages (existingConfigMap)
            laid_out.append(mounts[v["name"]])
            for key, text in maps[cm["name"]].get("data", {}).items():
                path = root + os.path.join(mounts[v["name"]], key)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
        if not any(config_path.startswith(m.rstrip("/") + "/") for m in laid_out):
            fail.check(values["existingConfigMap"], f"{config_path} is in no rendered ConfigMap")
            return "skipped (existingConfigMap)"
        # Paths inside the files point at the mounts; point them at the temporary root.
        for dirpath, _, files in os.walk(root):
            for name in files:
                p = os.path.join(dirpath, name)
                with open(p) as f:
                    text = f.read()
                for m in laid_out:
                    text = text.replace(m.rstrip("/") + "/", root + m.rstrip("/") + "/")
                with open(p, "w") as f:
                    f.write(text)
        r = run([blackwatch, "check", "config", root + config_path])
    if r.returncode == 0:
        return "ok"
    errors = [l for l in r.stderr.splitlines() if re.match(r".+:\d+:\d+: ", l)]
    if pending and errors and all(
            any(f"{feat}: " in l and "is not supported yet by blackwatch" in l for feat in pending) for l in errors):
        return f"pending ({', '.join(pending)} not supported by this blackwatch yet)"
    fail.check(False, f"blackwatch check config failed:\n{r.stderr}")
    return "failed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--helm", required=True)
    ap.add_argument("--blackwatch", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--kube-versions", required=True)
    ap.add_argument("values", nargs="+")
    a = ap.parse_args()
    versions = a.kube_versions.split(",")
    with open(os.path.join(a.chart, "values.yaml")) as f:
        defaults = yaml.safe_load(f)

    failed = 0
    tmp = tempfile.TemporaryDirectory()
    for arg in a.values:
        vf = arg
        if arg.startswith("argocd:"):
            with open(arg[len("argocd:"):]) as f:
                app = yaml.safe_load(f)
            vf = os.path.join(tmp.name, os.path.basename(arg) + ".values.yaml")
            with open(vf, "w") as f:
                yaml.safe_dump(app["spec"]["source"]["helm"]["valuesObject"], f)
        fail = Failures(arg)
        lint = run([a.helm, "lint", "--strict", a.chart, "-f", vf])
        fail.check(lint.returncode == 0, f"helm lint:\n{lint.stdout}{lint.stderr}")
        tpl = run([a.helm, "template", "blackwatch", a.chart, "-f", vf, "--namespace", "monitoring"])
        config_state = "not reached"
        if fail.check(tpl.returncode == 0, f"helm template:\n{tpl.stderr}"):
            docs = [d for d in yaml.safe_load_all(tpl.stdout) if d]
            with open(vf) as f:
                values = deep_merge(defaults, yaml.safe_load(f) or {})
            for d in docs:
                what = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
                if d.get("apiVersion", "").startswith("monitoring.coreos.com/"):
                    check_service_monitor(d, fail)
                    continue
                for v in versions:
                    try:
                        kubernetes_validate.validate(d, v, strict=True)
                    except ValidationError as e:
                        fail.check(False, f"{what} (Kubernetes {v}): {e.message} at {'.'.join(map(str, e.path))}")
                    except (SchemaNotFoundError, VersionNotSupportedError) as e:
                        fail.check(False, f"{what} (Kubernetes {v}): no schema: {e}")
            workload = check_invariants(docs, values, fail)
            if workload:
                config_state = check_config(docs, workload, values, pending_features(vf), a.blackwatch, fail)
        if fail.items:
            failed += 1
            print(f"FAIL {arg}")
            for item in fail.items:
                print("  " + item.replace("\n", "\n  "))
        else:
            print(f"ok   {arg}: lint, template, schemas {'+'.join(versions)}, invariants, config {config_state}")
    # Deliberately not "N passed, N failed": CI reads that form as a test runner's summary.
    print(f"helm chart checks: {len(a.values) - failed} of {len(a.values)} values files ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
