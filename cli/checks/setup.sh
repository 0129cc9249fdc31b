#!/usr/bin/env bash
# Installs the manifest checkers into .tools/ (`npm run setup:checks`; .ci/run calls it):
#  - .tools/venv: kubernetes-validate (the Kubernetes API's JSON schemas, strict variants) and
#    checkov, from PyPI, every package pinned with its hashes in cli/checks/requirements.txt
#    (regenerate from requirements.in with pip-compile, see docs/manifests-and-checks.md);
#  - .tools/crds: the CustomResourceDefinitions of the custom resources the program may create,
#    from the Go modules that ship them, pinned below with their hashes, through the Go module proxy;
#  - .tools/s3server: moto's S3 server, the real S3-compatible server the PostgreSQL backup tests
#    upload to, every package pinned with its hashes in cli/checks/s3server-requirements.txt;
#  - rclone, the S3 client of the backup pods, at the version of their image
#    (postgresBackupS3ClientImage's default in Pulumi.yaml), from the Go module proxy into
#    $(go env GOPATH)/bin (a cold build takes several minutes);
#  - promtool and the Prometheus server, from the Prometheus Go module, into
#    ~/.cache/healthcare-backend/monitoring (harness/monitoring/toolchain.sh, `npm run setup:monitoring`):
#    the rule tests call promtool, the metric contract test runs the server;
#  - app/node_modules: the stand-in API's own dependencies (npm ci --prefix app, from its lockfile),
#    which the metric contract test builds and runs.
# Each part is skipped when .tools already holds exactly what its pins describe.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

# <module>@<version> <its go.sum hash (h1:)> <file in the module>...
crd_sources=(
    "github.com/prometheus-operator/prometheus-operator@v0.85.0 h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s= example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
    "k8s.io/autoscaler/vertical-pod-autoscaler@v1.8.1 h1:Pe8bV1wozN4gOKO1rleiIY5alIyAXN+DnXDbXQcL4fI= deploy/vpa-v1-crd-gen.yaml"
    "github.com/cert-manager/cert-manager@v1.19.1 h1:Txh8L/nLWTDcb7ZnXuXbTe15BxQnLbLirXmbNk0fGgY= deploy/crds/cert-manager.io_clusterissuers.yaml deploy/crds/cert-manager.io_issuers.yaml deploy/crds/cert-manager.io_certificates.yaml"
    "github.com/cloudnative-pg/cloudnative-pg@v1.30.1 h1:d1jxp0jQi7/3zrEhsv9ycD+G5ssmkNvDvTmogaGccCw= config/crd/bases/postgresql.cnpg.io_clusters.yaml config/crd/bases/postgresql.cnpg.io_poolers.yaml config/crd/bases/postgresql.cnpg.io_scheduledbackups.yaml config/crd/bases/postgresql.cnpg.io_backups.yaml"
    "github.com/cloudnative-pg/plugin-barman-cloud@v0.15.0 h1:gNVytrzzYUE08wxLDrjfJqy1FPPSFkMe1OEr4s4pVI0= config/crd/bases/barmancloud.cnpg.io_objectstores.yaml"
    # The Gateway API's standard channel, at the version Envoy Gateway v1.9 is built on, and Envoy
    # Gateway's EnvoyProxy (the local GatewayClass's parameters).
    "sigs.k8s.io/gateway-api@v1.6.1 h1:mock6phZbI6rvZerwrVNk7hVNymQgHo+6sJ81Ia7ftY= config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml config/crd/standard/gateway.networking.k8s.io_gateways.yaml config/crd/standard/gateway.networking.k8s.io_httproutes.yaml config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml"
    "github.com/envoyproxy/gateway@v1.9.0 h1:PaOpud15v3kDCl3L5yc1TdYzggCMpRm1yRjNKmLkzHA= charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_envoyproxies.yaml"
)

started=$(date +%s)

# Creates venv $2 from the hash-pinned requirements file $1, unless it already holds exactly those
# (its program $3 is there and its stamp matches the file); $4 says what it holds.
pinned_venv() {
    local requirements="$1" venv="$2" program="$3" what="$4"
    local stamp="$venv/.requirements.sha256" wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ -x "$venv/bin/$program" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        echo "setup:checks: $venv is up to date"
        return
    fi
    echo "setup:checks: creating $venv ($what)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --require-hashes --no-deps -r "$requirements"
    echo "$wanted" >"$stamp"
}

venv="$tools/venv"
pinned_venv "$root/cli/checks/requirements.txt" "$venv" checkov "kubernetes-validate, checkov"

crds="$tools/crds"
crd_stamp="$crds/.sources"
if [ -d "$crds" ] && [ "$(cat "$crd_stamp" 2>/dev/null)" = "${crd_sources[*]}" ]; then
    echo "setup:checks: $crds is up to date"
else
    command -v go >/dev/null 2>&1 || { echo "setup:checks: the Go toolchain is needed to fetch CRDs from the Go module proxy" >&2; exit 1; }
    echo "setup:checks: fetching CRDs into $crds"
    # Files are added or overwritten, never removed: checkouts of other branches may share this .tools.
    mkdir -p "$crds"
    for source in "${crd_sources[@]}"; do
        read -r module sum files <<<"$source"
        # Outside any Go module, `go mod download` only fetches, checked against the Go checksum
        # database; the pinned hash must match as well.
        read -r dir got < <(cd "$tools" && go mod download -json "$module" | "$venv/bin/python" -c 'import json,sys; m=json.load(sys.stdin); print(m.get("Dir", ""), m.get("Sum", m.get("Error", "")))')
        if [ "$got" != "$sum" ]; then
            echo "setup:checks: $module has hash ${got:-none}, expected $sum" >&2
            exit 1
        fi
        for file in $files; do
            cp -f "$dir/$file" "$crds/$(basename "$file")"
            chmod u+w "$crds/$(basename "$file")"
        done
    done
    echo "${crd_sources[*]}" >"$crd_stamp"
fi

pinned_venv "$root/cli/checks/s3server-requirements.txt" "$tools/s3server" moto_server "moto's S3 server"

# The version the backup pods' image runs: rclone/rclone:<version> in Pulumi.yaml.
rclone_version=$(sed -n 's|^ *default: rclone/rclone:\([0-9][0-9.]*\)$|\1|p' "$root/Pulumi.yaml")
[ -n "$rclone_version" ] || { echo "setup:checks: no rclone/rclone:<version> default in Pulumi.yaml" >&2; exit 1; }
gobin="$(go env GOPATH)/bin"
installed_rclone=$("$gobin/rclone" version 2>/dev/null | sed -n 1p || true)
if [ "$installed_rclone" = "rclone v$rclone_version" ] || [ "$installed_rclone" = "rclone v$rclone_version-DEV" ]; then
    echo "setup:checks: rclone $rclone_version is installed"
else
    echo "setup:checks: go install github.com/rclone/rclone@v$rclone_version"
    go install "github.com/rclone/rclone@v$rclone_version"
fi

bash "$root/harness/monitoring/toolchain.sh" >/dev/null

# The stand-in API's dependencies, unless they were installed after its lockfile last changed (npm
# writes node_modules/.package-lock.json on install).
installed="$root/app/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ "$root/app/package-lock.json" -nt "$installed" ]; then
    echo "setup:checks: npm ci --prefix app (the stand-in API's dependencies)"
    npm ci --prefix "$root/app" --no-audit --no-fund >/dev/null
fi

echo "setup:checks: ready in $(($(date +%s) - started)) s"
