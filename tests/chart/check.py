"""Checks the Helm chart with real Helm (helm-python-sdk) and the real
Kubernetes schemas (kubernetes-validate), no cluster: `helm lint --strict`
and a render for each meaningful value set, every manifest validated
against Kubernetes 1.37 (the Prometheus Operator's and cert-manager's kinds,
which it does not ship, checked for their shape), what every container must
hold (non-root, read-only root, no privilege escalation, probes), and
values.schema.json refusing bad values with the key it names.

Usage: check.py CHART OUT.json. Writes the control plane's and data plane's
containers (args, env, ports) as rendered for an external Postgres, for
tests/tests/chart.rs to start those very processes.
"""

import json
import re
import sys

import kubernetes_validate
import yaml
from helm_python import chart as helm
from helm_python.errors import HelmError

CHART, OUT = sys.argv[1], sys.argv[2]
K8S = "1.37.0"
EXTERNAL = {"database": {"existingSecret": "mcpgw-db"}}
# Kinds of CRDs kubernetes-validate has no schema for: shape checked here.
CRDS = {
    "ServiceMonitor": ("monitoring.coreos.com/v1", "endpoints"),
    "PodMonitor": ("monitoring.coreos.com/v1", "podMetricsEndpoints"),
    "Certificate": ("cert-manager.io/v1", "secretName"),
}


def merge(base, more):
    out = json.loads(json.dumps(base))
    for k, v in more.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


VALUE_SETS = {
    "external postgres": EXTERNAL,
    "bundled postgres": {"postgres": {"enabled": True}},
    "tls from a secret": merge(EXTERNAL, {"tls": {"enabled": True, "existingSecret": "mcpgw-tls"}}),
    "tls by cert-manager": merge(
        EXTERNAL, {"tls": {"enabled": True, "certManager": {"enabled": True, "issuerRef": {"name": "ca"}}}}
    ),
    "ingress, monitors and traces": merge(
        EXTERNAL,
        {
            "ingress": {"enabled": True, "className": "nginx", "tlsSecret": "mcpgw-ingress-tls"},
            "tracing": {
                "endpoint": "http://otel-collector.observability:4317",
                "sampler": "parentbased_traceidratio",
                "samplerArg": "0.25",
            },
            "metrics": {
                "serviceMonitor": {"enabled": True},
                "podMonitor": {"enabled": True},
                "dashboard": {"enabled": True},
            },
        },
    ),
    "hpa off, redis, no network policy": merge(
        EXTERNAL,
        {
            "dataPlane": {"autoscaling": {"enabled": False}, "replicas": 3, "env": {"MCPGW_TASK_AFTER_MS": 250}},
            "redis": {"url": "redis://redis:6379"},
            "networkPolicy": {"enabled": False},
        },
    ),
}

# Bad values, each with the key the schema must name.
BAD = [
    ({"logFormat": "xml"}, "logFormat"),
    ({"dataPlane": {"port": 70000}}, "port"),
    ({"controlPlane": {"replicas": 0}}, "replicas"),
    ({"redis": {"url": "http://redis:6379"}}, "url"),
    ({"dataplane": {"replicas": 2}}, "dataplane"),
    ({"postgres": {"enabled": "yes"}}, "enabled"),
    ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "interval"),
    ({"tracing": {"protocol": "thrift"}}, "protocol"),
    ({"tracing": {"samplerArg": "half"}}, "samplerArg"),
]

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def docs(manifests):
    for path, text in manifests.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                yield path, doc


def containers(doc):
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return spec, spec.get("containers", [])


chart = helm.Chart.load(CHART)
rendered = {}
dashboard_metrics = []
for name, values in VALUE_SETS.items():
    report = helm.lint(CHART, values, strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    check(not errors, f"{name}: helm lint --strict: {errors}")
    manifests = chart.render(values, name="mcpgw", namespace="mcpgw", is_install=True)
    rendered[name] = manifests
    kinds = {}
    for path, doc in docs(manifests):
        kind = doc.get("kind")
        kinds.setdefault(kind, []).append(doc)
        if kind in CRDS:
            api, field = CRDS[kind]
            check(doc.get("apiVersion") == api, f"{name}: {kind} apiVersion {doc.get('apiVersion')}")
            check(field in doc.get("spec", {}), f"{name}: {kind} has no spec.{field}")
            continue
        try:
            kubernetes_validate.validate(doc, K8S, strict=True)
        except kubernetes_validate.ValidationError as e:
            check(False, f"{name}: {path} {kind}: {e.message} at {list(e.path)}")
        if kind in ("Deployment", "StatefulSet"):
            pod, cs = containers(doc)
            check(pod.get("securityContext", {}).get("runAsNonRoot") is True, f"{name}: {path} pod may run as root")
            check(pod.get("automountServiceAccountToken") is False, f"{name}: {path} mounts a token")
            for c in cs:
                sc = c.get("securityContext", {})
                check(sc.get("readOnlyRootFilesystem") is True, f"{name}: {c['name']} root fs writable")
                check(sc.get("allowPrivilegeEscalation") is False, f"{name}: {c['name']} may escalate")
                check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: {c['name']} keeps capabilities")
                check("readinessProbe" in c and "livenessProbe" in c, f"{name}: {c['name']} has no probes")
                check("limits" in c.get("resources", {}), f"{name}: {c['name']} has no limits")
                if c["name"] in ("control-plane", "data-plane"):
                    check(c["readinessProbe"]["httpGet"]["path"] == "/ready", f"{name}: {c['name']} readiness")
                    check(c["livenessProbe"]["httpGet"]["path"] == "/health", f"{name}: {c['name']} liveness")
    deployments = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
    check(set(deployments) == {"mcpgw-control-plane", "mcpgw-data-plane"}, f"{name}: deployments {set(deployments)}")
    check(deployments["mcpgw-control-plane"]["spec"]["replicas"] == 2, f"{name}: control plane replicas")
    hpa = kinds.get("HorizontalPodAutoscaler", [])
    dp = deployments["mcpgw-data-plane"]
    if values.get("dataPlane", {}).get("autoscaling", {}).get("enabled", True):
        check(len(hpa) == 1 and "replicas" not in dp["spec"], f"{name}: HPA owns the data planes' replicas")
    else:
        check(not hpa and dp["spec"]["replicas"] == 3, f"{name}: no HPA, 3 replicas")
    check(len(kinds.get("PodDisruptionBudget", [])) == 1, f"{name}: a PodDisruptionBudget")
    check(
        bool(kinds.get("NetworkPolicy")) == values.get("networkPolicy", {}).get("enabled", True),
        f"{name}: network policies",
    )
    check(
        bool(kinds.get("StatefulSet")) == values.get("postgres", {}).get("enabled", False),
        f"{name}: the bundled Postgres",
    )
    secret = [s for s in kinds.get("Secret", []) if s["metadata"]["name"] == "mcpgw-secrets"]
    check(len(secret) == 1, f"{name}: generated secrets")
    if secret:
        keys = set(secret[0]["data"])
        want = {"JWT_SECRET_KEY", "BASIC_AUTH_USER", "BASIC_AUTH_PASSWORD", "AUTH_ENCRYPTION_SECRET"}
        check(want <= keys, f"{name}: secret keys {keys}")
    _, (dpc,) = containers(dp)
    env = {e["name"]: e for e in dpc["env"]}
    tls = values.get("tls", {}).get("enabled", False)
    url = env["MCPGW_CONTROL_PLANE"]["value"]
    check(url == f"{'https' if tls else 'http'}://mcpgw-control-plane.mcpgw.svc:4445", f"{name}: {url}")
    check(("SSL_CERT_FILE" in env) == tls, f"{name}: the data planes trust the control plane's CA")
    traces = values.get("tracing", {})
    cpc = containers(deployments["mcpgw-control-plane"])[1][0]
    for c in (dpc, cpc):
        e = {v["name"]: v.get("value") for v in c["env"]}
        check(e.get("OTEL_EXPORTER_OTLP_ENDPOINT") == traces.get("endpoint"), f"{name}: {c['name']} traces to {e}")
        if traces:
            check(e.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "grpc", f"{name}: {c['name']} OTLP protocol")
            check(e.get("OTEL_TRACES_SAMPLER_ARG") == traces["samplerArg"], f"{name}: {c['name']} sampler ratio")
    if "ingress" in values:
        check(len(kinds.get("Ingress", [])) == 1, f"{name}: an Ingress")
        check(len(kinds.get("ServiceMonitor", [])) == 1, f"{name}: a ServiceMonitor")
        check(len(kinds.get("PodMonitor", [])) == 1, f"{name}: a PodMonitor")
    maps = [m for m in kinds.get("ConfigMap", []) if m["metadata"]["name"] == "mcpgw-dashboard"]
    wanted = values.get("metrics", {}).get("dashboard", {}).get("enabled", False)
    check(len(maps) == int(wanted), f"{name}: the dashboard ConfigMap")
    if maps:
        check(maps[0]["metadata"]["labels"].get("grafana_dashboard") == "1", f"{name}: the sidecar's label")
        board = json.loads(maps[0]["data"]["mcpgw.json"])
        check(board.get("uid") == "mcpgw" and board.get("panels"), f"{name}: the dashboard's JSON")
        dashboard_metrics = sorted(
            {n for p in board["panels"] for t in p["targets"] for n in re.findall(r"mcpgw_[a-z_]+", t["expr"])}
        )
    if values.get("tls", {}).get("certManager", {}).get("enabled"):
        check(len(kinds.get("Certificate", [])) == 1, f"{name}: a Certificate")

# Without a database the chart refuses, saying what to set.
try:
    chart.render({}, name="mcpgw", namespace="mcpgw")
    check(False, "rendered with no registry database")
except HelmError as e:
    check("database.existingSecret" in str(e), f"no database: {e}")
try:
    chart.render(merge(EXTERNAL, {"postgres": {"enabled": True}}), name="mcpgw", namespace="mcpgw")
    check(False, "rendered with two registry databases")
except HelmError as e:
    check("not both" in str(e), f"two databases: {e}")

for bad, key in BAD:
    values = merge(EXTERNAL, bad)
    try:
        chart.validate_schema(values)
        check(False, f"values.schema.json accepted {bad}")
    except HelmError as e:
        check(key in str(e), f"{bad}: the error does not name {key}: {e}")
    try:
        chart.render(values, name="mcpgw", namespace="mcpgw")
        check(False, f"rendered with {bad}")
    except HelmError:
        pass

# The containers as rendered for an external Postgres, for the process test.
out = {}
for _, doc in docs(rendered["external postgres"]):
    if doc.get("kind") == "Deployment":
        _, (c,) = containers(doc)
        out[c["name"]] = {
            "args": c["args"],
            "env": c["env"],
            "ports": c["ports"],
            "ready": c["readinessProbe"]["httpGet"]["path"],
        }
# The metrics the dashboard queries, for the process test to find them
# scraped from the running planes.
out["dashboard_metrics"] = dashboard_metrics
json.dump(out, open(OUT, "w"), indent=1)

if failures:
    print("chart checks failed:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"chart: {len(VALUE_SETS)} value sets linted, rendered and validated; {len(BAD)} bad values refused")
