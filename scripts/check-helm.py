"""Offline checks of the Helm chart deploy/helm/twinvault; run by scripts/check-helm.sh.

For the default values and every ci/*-values.yaml variant:
  1. values.schema.json accepts the values, and rejects a set of known-bad ones;
  2. Helm v4's engine (helm-python-sdk, no helm binary) lints the chart strictly and renders it;
  3. every rendered object passes kubernetes-validate --strict for the target Kubernetes
     version; the CRD kinds without a schema there get a structural check;
  4. no Secret is rendered unless the values ask for one (secrets.*.create), and the
     ConfigMap's twinvault.toml holds no inline secret;
  5. every *_file path of twinvault.toml lies in a Secret volume the Deployment mounts, and
     `twinvault check-config` accepts the config as a pod would read it (the pod's /etc/twinvault
     laid out in a temporary directory).
The chart packed by `helm package` (files/dashboards resolved) must render the same objects.
Then the drift check: the chart's defaults and the kustomize base must deploy the same
gateway (kinds, container args, ports, probes, security contexts, mounts, volumes,
resources, Service ports, PDB, HPA, scrape endpoints, alert rules, dashboards, and the
effective configuration as `twinvault check-config` prints it).
"""

import copy
import difflib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy/helm/twinvault"
BASE = REPO / "deploy/kubernetes/base"
DASHBOARD_KUSTOMIZATION = REPO / "deploy/kubernetes/grafana-dashboard"
RELEASE, NAMESPACE = "twinvault", "twinvault"
KUBE_VERSION = os.environ.get("TWINVAULT_KUBE_VERSION", "1.32.0")
KUBECTL, TWINVAULT = sys.argv[1], sys.argv[2]
# CRDs kubernetes-validate has no schema for; each gets a structural check below.
CRD_KINDS = {
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "Certificate": "cert-manager.io/v1",
}
# Values the schema must refuse (each would deploy a broken gateway or leak a secret).
BAD_VALUES = {
    "three regions": {"regions": [{"name": n, "endpoint": "https://s3.example.com", "access_key_id": "K"}
                                  for n in ("a", "b", "c")]},
    "one region": {"regions": [{"name": "a", "endpoint": "https://s3.example.com", "access_key_id": "K"}]},
    "inline region secret": {"regions": [{"name": n, "endpoint": "https://s3.example.com", "access_key_id": "K",
                                          "secret_access_key": "x"} for n in ("a", "b")]},
    "listener set by hand": {"config": {"server": {"s3_listen": "0.0.0.0:1"}}},
    "unknown write policy": {"config": {"replication": {"write_policy": "both"}}},
    "bucket template without {bucket}": {"regions": [{"name": n, "endpoint": "https://s3.example.com",
                                                      "access_key_id": "K", "bucket_template": "fixed"}
                                                     for n in ("a", "b")]},
    "no users": {"users": []},
    "Secret to create without data": {"secrets": {"keyring": {"create": True}}},
    "privileged port": {"ports": {"s3": 443}},
}
# Values the templates must refuse (cross-field rules the schema cannot express).
BAD_RENDERS = {
    "preferred_region not a region": {"config": {"replication": {"preferred_region": "z"}}},
    "current key not listed": {"keyring": {"current": "k9"}},
    "a region name used twice": {"regions": [{"name": "a", "endpoint": "https://s3.example.com",
                                              "access_key_id": "K"}] * 2},
}

errors = []


def fail(variant, message):
    errors.append(f"{variant}: {message}")


def render(values):
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return objects(manifests)


def objects(manifests):
    """The Kubernetes objects of rendered templates (NOTES.txt and empty documents left out)."""
    return [d for path, text in sorted(manifests.items()) if not path.endswith("NOTES.txt")
            for d in yaml.safe_load_all(text) if d]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def validate_objects(variant, docs):
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in CRD_KINDS:
            if doc["apiVersion"] != CRD_KINDS[doc["kind"]]:
                fail(variant, f"{name}: apiVersion must be {CRD_KINDS[doc['kind']]}")
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            fail(variant, f"{name}: kubernetes-validate {KUBE_VERSION} --strict: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            fail(variant, f"{name}: {e.message} (typo in kind or apiVersion?)")


def check_crds(variant, docs):
    (svc,) = by_kind(docs, "Service")
    svc_ports = {p["name"] for p in svc["spec"]["ports"]}
    for sm in by_kind(docs, "ServiceMonitor"):
        sel = sm["spec"]["selector"]["matchLabels"]
        if any(svc["metadata"]["labels"].get(k) != v for k, v in sel.items()):
            fail(variant, f"ServiceMonitor selector {sel} does not select the Service")
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in svc_ports or ep.get("path") != "/metrics":
                fail(variant, f"ServiceMonitor endpoint {ep} is not a Service port's /metrics")
    for pr in by_kind(docs, "PrometheusRule"):
        groups = pr["spec"]["groups"]
        alerts = yaml.safe_load((REPO / "dashboards/alerts.yml").read_text())["groups"]
        if groups != alerts:
            fail(variant, "PrometheusRule groups differ from dashboards/alerts.yml")
    for cert in by_kind(docs, "Certificate"):
        spec = cert["spec"]
        (dep,) = by_kind(docs, "Deployment")
        tls = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls"]
        if not tls or tls[0]["secret"]["secretName"] != spec.get("secretName"):
            fail(variant, "Certificate does not write the TLS Secret the pods mount")
        if not spec.get("issuerRef", {}).get("name") or not spec.get("dnsNames"):
            fail(variant, "Certificate needs issuerRef.name and dnsNames")


def toml_keys(node, where=""):
    """(dotted path, key, value) of every key of a parsed TOML document, in tables and arrays."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{where}{k}", k, v
            yield from toml_keys(v, f"{where}{k}.")
    elif isinstance(node, list):
        for v in node:
            yield from toml_keys(v, where)


def check_no_inline_secrets(variant, values, docs, conf):
    asked = any(values.get("secrets", {}).get(k, {}).get("create") for k in ("users", "keyring", "upstreams"))
    secrets = by_kind(docs, "Secret")
    if secrets and not asked:
        fail(variant, f"Secret rendered although no secrets.*.create is set: {secrets[0]['metadata']['name']}")

    for path, key, _ in toml_keys(conf):
        if key in ("secret_access_key", "key"):
            fail(variant, f"twinvault.toml holds an inline secret {path}")


def pod_files(variant, docs, conf, root):
    """Lays out the pod's /etc/twinvault under root (the rendered Secret's values, else
    placeholders; key files get a valid key). Returns the config's path there, with its paths
    rewritten under root, and the container's environment; None if the config is not mounted."""
    (dep,) = by_kind(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    if container["args"][:2] != ["serve", "--config"]:
        fail(variant, f"container args {container['args']} do not start with serve --config")
    config_path = container["args"][2]
    cm_volume = mounts.get(os.path.dirname(config_path), {}).get("configMap", {})
    cms = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == cm_volume.get("name")]
    if len(cms) != 1:
        fail(variant, f"{config_path} is not in a mounted ConfigMap of the chart")
        return None
    rendered_secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in by_kind(docs, "Secret")}

    for p in [value for _, key, value in toml_keys(conf) if key.endswith("_file")]:
        parent, key = os.path.split(p)
        secret = mounts.get(parent, {}).get("secret")
        if not secret:
            fail(variant, f"{p}: no Secret volume mounted at {parent}")
            continue
        name = secret["secretName"]
        if name in rendered_secrets:
            if key not in rendered_secrets[name]:
                fail(variant, f"{p}: the chart's Secret {name} has no key {key}")
                continue
            content = rendered_secrets[name][key]
        elif parent.endswith("/keyring"):
            content = "q7Jt0N1Zb2m3kz4Uu0Ckz3q7v0o4VfSx8b2yJm4kQvE="  # any 32 bytes, base64
        else:
            content = f"placeholder for {key} of Secret {name}"
        target = root / p.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    text = cms[0]["data"][os.path.basename(config_path)]
    target = root / config_path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace('"/etc/twinvault/', f'"{root}/etc/twinvault/'))
    return target, {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def check_config(variant, docs, conf):
    """`twinvault check-config` on the config as the pod reads it; returns its output."""
    with tempfile.TemporaryDirectory() as tmp:
        laid_out = pod_files(variant, docs, conf, Path(tmp))
        if laid_out is None:
            return None
        config, pod_env = laid_out
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINVAULT_")}
        env.update(pod_env)
        run = subprocess.run([TWINVAULT, "check-config", "--config", str(config)],
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            fail(variant, f"twinvault check-config failed:\n{run.stderr.strip()}")
            return None
        return run.stdout.replace(tmp, "")


def check_variant(variant, values):
    try:
        docs = render(values)
    except helm.HelmError as e:
        fail(variant, f"render failed: {e}")
        return None
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    for m in report["messages"]:
        # Severity 1 = info ("icon is recommended"); warnings and errors fail.
        if m["severity"] >= 2:
            fail(variant, f"helm lint: {m['path']}: {m['error']}")
    for e in report["errors"]:
        fail(variant, f"helm lint: {e}")
    validate_objects(variant, docs)
    check_crds(variant, docs)
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if "twinvault.toml" in c["data"]]
    conf = tomllib.loads(cm["data"]["twinvault.toml"])
    check_no_inline_secrets(variant, values, docs, conf)
    effective = check_config(variant, docs, conf)
    kinds = sorted(d["kind"] for d in docs)
    print(f"check-helm: {variant}: {len(docs)} objects ({', '.join(kinds)}) valid; check-config passed"
          if effective is not None else f"check-helm: {variant}: FAILED")
    return docs, effective


def check_rejections():
    with helm.Chart.load(str(CHART)) as chart:
        for what, values in BAD_VALUES.items():
            try:
                chart.validate_schema(values)
                fail("schema", f"accepts bad values ({what}): {values}")
            except helm.HelmError:
                pass
        for what, values in BAD_RENDERS.items():
            try:
                chart.render(values, name=RELEASE, namespace=NAMESPACE)
                fail("templates", f"render accept bad values ({what}): {values}")
            except helm.HelmError:
                pass
    print(f"check-helm: schema and templates reject {len(BAD_VALUES) + len(BAD_RENDERS)} kinds of bad values")


def check_package(default_docs):
    """`helm package` must carry the linked dashboards and alerts: the archive renders the same."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = helm.package(str(CHART), destination=tmp)
        with helm.Chart.load_archive(Path(archive).read_bytes()) as chart:
            manifests = chart.render({}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    if objects(manifests) != default_docs:
        fail("package", f"the packaged chart ({Path(archive).name}) renders differently from the directory")
    else:
        print(f"check-helm: {Path(archive).name} (helm package) renders the same objects")


def kustomize(*args):
    out = subprocess.run([KUBECTL, "kustomize", *args], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def compare(what, base, chart):
    if base == chart:
        return
    if isinstance(base, str) and isinstance(chart, str):
        diff = difflib.unified_diff(base.splitlines(), chart.splitlines(), "kustomize base", "helm chart",
                                    lineterm="")
        fail("drift", f"{what} differ:\n" + "\n".join(diff))
    else:
        fail("drift", f"{what} differ:\n  kustomize base: {json.dumps(base, sort_keys=True)}\n"
                      f"  helm chart:     {json.dumps(chart, sort_keys=True)}")


def check_drift(chart_docs, chart_effective):
    errors_before = len(errors)
    base_docs = kustomize(str(BASE))
    dashboard_docs = kustomize("--load-restrictor", "LoadRestrictionsNone", str(DASHBOARD_KUSTOMIZATION))
    # Kinds: the chart adds a NetworkPolicy (the base has none) and the dashboard ConfigMaps
    # the base ships as the separate grafana-dashboard kustomization.
    base_kinds = sorted(d["kind"] for d in base_docs + dashboard_docs)
    chart_kinds = sorted(d["kind"] for d in chart_docs if d["kind"] != "NetworkPolicy")
    compare("object kinds", base_kinds, chart_kinds)

    def one(docs, kind):
        found = by_kind(docs, kind)
        return found[0] if len(found) == 1 else {}

    bd, cd = one(base_docs, "Deployment"), one(chart_docs, "Deployment")
    bpod, cpod = bd["spec"]["template"]["spec"], cd["spec"]["template"]["spec"]
    (bc,), (cc,) = bpod["containers"], cpod["containers"]
    for key in ("args", "ports", "startupProbe", "livenessProbe", "readinessProbe", "securityContext",
                "volumeMounts", "resources", "lifecycle", "imagePullPolicy"):
        compare(f"container {key}", bc.get(key), cc.get(key))
    for key in ("securityContext", "automountServiceAccountToken", "terminationGracePeriodSeconds"):
        compare(f"pod {key}", bpod.get(key), cpod.get(key))
    for key in ("strategy", "revisionHistoryLimit"):
        compare(f"Deployment {key}", bd["spec"].get(key), cd["spec"].get(key))

    def volumes(pod, cm_name):
        out = copy.deepcopy(pod["volumes"])
        for v in out:
            if v.get("configMap", {}).get("name") == cm_name:
                v["configMap"]["name"] = "<config>"
        return out

    compare("pod volumes", volumes(bpod, "twinvault-config"), volumes(cpod, f"{RELEASE}-config"))
    compare("pod anti-affinity topology",
            [t["podAffinityTerm"]["topologyKey"] for t in
             bpod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]],
            [t["podAffinityTerm"]["topologyKey"] for t in
             cpod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]])
    compare("Service spec.ports and type",
            (one(base_docs, "Service")["spec"]["ports"], one(base_docs, "Service")["spec"]["type"]),
            (one(chart_docs, "Service")["spec"]["ports"], one(chart_docs, "Service")["spec"]["type"]))
    compare("PDB minAvailable", one(base_docs, "PodDisruptionBudget")["spec"].get("minAvailable"),
            one(chart_docs, "PodDisruptionBudget")["spec"].get("minAvailable"))
    compare("HPA spec", one(base_docs, "HorizontalPodAutoscaler")["spec"],
            one(chart_docs, "HorizontalPodAutoscaler")["spec"])
    compare("ServiceMonitor endpoints", one(base_docs, "ServiceMonitor")["spec"]["endpoints"],
            one(chart_docs, "ServiceMonitor")["spec"]["endpoints"])
    compare("PrometheusRule groups", one(base_docs, "PrometheusRule")["spec"]["groups"],
            one(chart_docs, "PrometheusRule")["spec"]["groups"])

    def dashboards(docs):
        out = {}
        for d in docs:
            if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
                out.update({k: json.loads(v) for k, v in d["data"].items()})
        return out

    compare("Grafana dashboards", dashboards(dashboard_docs), dashboards(chart_docs))
    base_cm = one(base_docs, "ConfigMap")
    base_effective = check_config("kustomize base", base_docs, tomllib.loads(base_cm["data"]["twinvault.toml"]))
    if base_effective is not None and chart_effective is not None:
        compare("effective configuration (twinvault check-config)", base_effective, chart_effective)
    print("check-helm: drift: the chart's defaults deploy what the kustomize base deploys "
          "(kinds, args, ports, probes, security contexts, mounts, volumes, resources, Service, "
          "PDB, HPA, ServiceMonitor, alert rules, dashboards, effective config)"
          if len(errors) == errors_before else "check-helm: drift: FAILED")


def main():
    variants = [("default values", {})]
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        variants.append((f"ci/{path.name}", yaml.safe_load(path.read_text()) or {}))
    results = {name: check_variant(name, values) for name, values in variants}
    check_rejections()
    default = results["default values"]
    if default is not None:
        check_package(default[0])
        check_drift(*default)
    for e in errors:
        print(f"check-helm: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
