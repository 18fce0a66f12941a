#!/usr/bin/env python3
"""Structural checks of the container examples, for docker/test.

    check-manifests.py COMPOSE_YAML POD_YAML           check both, print findings
    check-manifests.py --env-names COMPOSE_YAML POD_YAML
                                                   print every EBB_* name they set

A parse error or a broken rule exits 1 with one line per problem. The rules
are those the examples' comments promise (a shared network namespace, a
native sidecar with probes on ports it declares, a non-root user), not a full
schema: `docker compose config` checks the compose file further when present.
"""
import os
import sys

import yaml


def load(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a mapping")
    return doc


def env_of(container):
    """EBB_* names a compose service or a k8s container sets."""
    env = container.get("environment") or container.get("env") or {}
    if isinstance(env, dict):
        return list(env)
    names = []
    for e in env:
        names.append(e["name"] if isinstance(e, dict) else str(e).split("=", 1)[0])
    return names


def check_compose(path, doc, problems):
    services = doc.get("services") or {}
    ebb, app = services.get("ebb"), services.get("app")
    if ebb is None or app is None:
        problems.append(f"{path}: needs services 'ebb' and 'app'")
        return
    build = ebb.get("build") or {}
    context = os.path.join(os.path.dirname(path), build.get("context", "."))
    dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
    if not os.path.isfile(dockerfile):
        problems.append(f"{path}: ebb builds from {dockerfile}, which does not exist")
    if app.get("network_mode") != "service:ebb":
        problems.append(f"{path}: app must use network_mode: service:ebb")
    if "ports" in app or "networks" in app:
        problems.append(f"{path}: app shares ebb's namespace, so ports/networks belong to ebb")
    cond = ((app.get("depends_on") or {}).get("ebb") or {}).get("condition")
    if cond != "service_healthy":
        problems.append(f"{path}: app must wait for ebb's health check (service_healthy)")
    if ebb.get("ports"):
        problems.append(f"{path}: the example publishes no ebb port")


def check_pod(path, doc, problems):
    if doc.get("apiVersion") != "v1" or doc.get("kind") != "Pod":
        problems.append(f"{path}: expected apiVersion v1, kind Pod")
        return
    spec = doc.get("spec") or {}
    inits, mains = spec.get("initContainers") or [], spec.get("containers") or []
    names = [c.get("name") for c in inits + mains]
    if len(set(names)) != len(names) or None in names:
        problems.append(f"{path}: container names must be present and unique")
    sidecars = [c for c in inits if c.get("restartPolicy") == "Always"]
    if len(sidecars) != 1 or sidecars[0].get("name") != "ebb":
        problems.append(f"{path}: needs one native sidecar 'ebb' (restartPolicy: Always)")
        return
    if not mains:
        problems.append(f"{path}: needs an application container")
    for c in mains:
        if "restartPolicy" in c:
            problems.append(f"{path}: restartPolicy belongs to init containers only")
    ebb = sidecars[0]
    ports = {p.get("name"): p.get("containerPort") for p in ebb.get("ports") or []}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = ebb.get(probe)
        if not p:
            problems.append(f"{path}: ebb has no {probe}")
            continue
        if "httpGet" in p:
            port = p["httpGet"].get("port")
            if port not in ports and port not in ports.values():
                problems.append(f"{path}: {probe} uses port {port!r}, which ebb does not declare")
            if p["httpGet"].get("path") not in ("/healthz", "/readyz"):
                problems.append(f"{path}: {probe} path must be /healthz or /readyz")
        elif p.get("exec", {}).get("command", [None])[0] != "/ebb-server":
            problems.append(f"{path}: {probe} must be httpGet or exec /ebb-server --ping")
    if spec.get("enableServiceLinks") is not False:
        problems.append(f"{path}: enableServiceLinks must be false (a Service named ebb sets EBB_PORT)")
    grace = spec.get("terminationGracePeriodSeconds")
    if not isinstance(grace, int) or grace < 2:
        problems.append(f"{path}: terminationGracePeriodSeconds must leave ebb its ~1 s")
    sc = spec.get("securityContext") or {}
    if not sc.get("runAsNonRoot") or sc.get("runAsUser") in (None, 0):
        problems.append(f"{path}: the pod must run as a non-root user")


def main(argv):
    env_names = argv[:1] == ["--env-names"]
    if env_names:
        argv = argv[1:]
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    problems = []
    try:
        compose, pod = load(argv[0]), load(argv[1])
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"cannot load: {e}", file=sys.stderr)
        return 1
    if env_names:
        names = set(env_of((compose.get("services") or {}).get("ebb") or {}))
        for c in (pod.get("spec") or {}).get("initContainers") or []:
            names.update(env_of(c))
        print("\n".join(sorted(n for n in names if n.startswith("EBB_"))))
        return 0
    check_compose(argv[0], compose, problems)
    check_pod(argv[1], pod, problems)
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"     {argv[0]}, {argv[1]}: parsed, structure ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
