#!/usr/bin/env python3
"""Validates examples/kubernetes without a cluster (Debian has no kubeconform): parses
every manifest and checks the fields the deployment relies on, and has spanlined check
the configuration the ConfigMap carries.

Usage: kubernetes_test.py EXAMPLES_DIR SPANLINED_BINARY
Exit 77 (skipped) when PyYAML is missing outside CI; CI installs python3-yaml.
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import tomllib

try:
    import yaml
except ImportError:
    if os.environ.get("CI") == "true":
        sys.exit("FAIL: PyYAML is missing (scripts/install-deps.sh installs python3-yaml)")
    print("SKIP: PyYAML is not installed (apt-get install python3-yaml)")
    sys.exit(77)

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def load(directory):
    objects = {}
    for path in sorted(pathlib.Path(directory).glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            for field in ("apiVersion", "kind", "metadata"):
                check(field in document, f"{path.name}: a document lacks {field}")
            objects[(document["kind"], document["metadata"]["name"])] = (path.name, document)
    return objects


def container(pod_spec, name):
    found = [c for c in pod_spec.get("containers", []) if c["name"] == name]
    return found[0] if found else None


def check_spanlined_container(where, pod_spec, secret, config_map, config):
    spanlined = container(pod_spec, "spanlined")
    if not check(spanlined is not None, f"{where}: no spanlined container"):
        return
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in spanlined.get("volumeMounts", [])}

    # The API key comes from the Secret, never from a literal.
    key_env = [e for e in spanlined.get("env", []) if e["name"] == "BRAINTRUST_API_KEY"]
    if check(len(key_env) == 1, f"{where}: BRAINTRUST_API_KEY is not set exactly once"):
        ref = key_env[0].get("valueFrom", {}).get("secretKeyRef", {})
        check(ref.get("name") == secret["metadata"]["name"], f"{where}: the key does not come from the Secret")
        check(ref.get("key") in secret.get("stringData", secret.get("data", {})),
              f"{where}: the Secret has no {ref.get('key')}")

    # The probes hit the admin listener on the port the configuration opens.
    admin_port = int(config["admin"]["listen"].rsplit(":", 1)[1])
    check(not config["admin"]["listen"].startswith("127."), f"{where}: admin.listen is loopback; probes cannot reach it")
    ports = {p.get("name"): p["containerPort"] for p in spanlined.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = spanlined.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path, f"{where}: {probe} is not GET {path}")
        port = ports.get(get.get("port"), get.get("port"))
        check(port == admin_port, f"{where}: {probe} port {get.get('port')} is not admin.listen's {admin_port}")

    # The configuration file is the ConfigMap, mounted where --config points.
    args = spanlined.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else None
    if check(config_path is not None, f"{where}: spanlined has no --config"):
        config_dir, config_file = config_path.rsplit("/", 1)
        volume = volumes.get(mounts.get(config_dir), {})
        check(volume.get("configMap", {}).get("name") == config_map["metadata"]["name"],
              f"{where}: {config_dir} is not the ConfigMap")
        check(config_file in config_map["data"], f"{where}: the ConfigMap has no {config_file}")

    # The sockets and the spool are in volumes (the root file system is read-only).
    socket_dir = config["ingest"]["uds_path"].rsplit("/", 1)[0]
    check(socket_dir in mounts, f"{where}: the socket directory {socket_dir} is not a volume")
    check(any(config["spool"]["dir"].startswith(m + "/") for m in mounts),
          f"{where}: the spool {config['spool']['dir']} is not in a volume")
    security = spanlined.get("securityContext", {})
    check(security.get("readOnlyRootFilesystem") is True, f"{where}: the root file system is writable")
    check(security.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation is allowed")
    check(pod_spec.get("securityContext", {}).get("runAsNonRoot") is True, f"{where}: may run as root")

    # SIGTERM's drain finishes before the kubelet's SIGKILL.
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    check(config["shutdown"]["timeout_ms"] < grace * 1000,
          f"{where}: shutdown.timeout_ms is not below terminationGracePeriodSeconds")
    return socket_dir, mounts, volumes


def main():
    examples, spanlined_binary = sys.argv[1], sys.argv[2]
    objects = load(examples)
    kinds = {kind for kind, _ in objects}
    for kind in ("Secret", "ConfigMap", "DaemonSet", "Deployment"):
        check(kind in kinds, f"no {kind} among {sorted(kinds)}")
    if failures:
        return
    secret = objects[("Secret", "spanline-api-key")][1]
    config_map = objects[("ConfigMap", "spanlined-config")][1]
    config_text = config_map["data"]["spanlined.toml"]
    config = tomllib.loads(config_text)

    # spanlined itself accepts the configuration.
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as file:
        file.write(config_text)
        file.flush()
        result = subprocess.run([spanlined_binary, "--config", file.name, "--check-config"],
                                capture_output=True, text=True, timeout=60)
        check(result.returncode == 0, f"spanlined --check-config refuses the ConfigMap: {result.stderr}")

    daemonset = objects[("DaemonSet", "spanlined")][1]
    pod = daemonset["spec"]["template"]["spec"]
    check(daemonset["spec"]["selector"]["matchLabels"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items(),
          "DaemonSet: the selector does not match the pod labels")
    checked = check_spanlined_container("DaemonSet", pod, secret, config_map, config)
    if checked:
        socket_dir, mounts, volumes = checked
        check("hostPath" in volumes.get(mounts.get(socket_dir), {}),
              "DaemonSet: the socket directory is not a hostPath (other pods cannot reach it)")
        host_volumes = {name for name, v in volumes.items() if "hostPath" in v}
        chowned = {m["name"] for c in pod.get("initContainers", []) for m in c.get("volumeMounts", [])}
        check(host_volumes <= chowned, "DaemonSet: hostPath volumes are not handed to the daemon's user first")

    deployment = objects[("Deployment", "my-service")][1]
    pod = deployment["spec"]["template"]["spec"]
    checked = check_spanlined_container("Deployment", pod, secret, config_map, config)
    if checked:
        socket_dir, mounts, volumes = checked
        socket_volume = mounts.get(socket_dir)
        check("emptyDir" in volumes.get(socket_volume, {}), "Deployment: the socket directory is not an emptyDir")
        app = container(pod, "app")
        if check(app is not None, "Deployment: no app container"):
            app_mounts = {m["mountPath"]: m["name"] for m in app.get("volumeMounts", [])}
            check(app_mounts.get(socket_dir) == socket_volume, "Deployment: the app does not share the socket volume")
            env = {e["name"]: e.get("value") for e in app.get("env", [])}
            check(env.get("SPANLINE_SOCKET") == config["ingest"]["uds_path"],
                  "Deployment: the app's SPANLINE_SOCKET is not ingest.uds_path")


if __name__ == "__main__":
    main()
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("kubernetes manifests OK")
