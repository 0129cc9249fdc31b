#!/usr/bin/env bash
# Builds the monitoring toolchain the rule tests run, from the Go module proxy, into a cache outside
# the repository ($HEALTHCARE_MONITORING_CACHE, default ~/.cache/healthcare-backend/monitoring):
#   bin/promtool            Prometheus' rule checker and rule unit-test runner (tests/promtool.test.ts)
#   bin/prometheus          the Prometheus server, same module and tags (tests/data/metric-contract.test.ts)
# Built like the e2e's toolchain (harness/engine/toolchain.sh): from a wrapper module committed under
# harness/monitoring/modules/ (go.mod + go.sum: `go build` refuses a module whose hash differs from
# go.sum), skipped when a stamp says the same inputs built it already. Cold (empty Go caches): promtool
# about 5 minutes on 2 busy cores (32 s downloading, 263 s building); the server after it about 2.5 more
# (140 s with an empty build cache on 2 cores at load average 9-11, where promtool itself took 413 s;
# nothing more to download: go.sum already covers cmd/prometheus); warm: a second each (the stamps).
# `npm run setup:checks` calls it, so `.ci/run` builds both before `npm test`.
#   bash harness/monitoring/toolchain.sh      build what is missing, print the cache folder
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
modules="$here/modules"
cache="${HEALTHCARE_MONITORING_CACHE:-$HOME/.cache/healthcare-backend/monitoring}"
bin="$cache/bin"
stamps="$cache/stamps"
mkdir -p "$bin" "$stamps"

# github.com/prometheus/prometheus v0.316.0 is Prometheus 3.x's Go module (the version in go.mod there).
prometheus_version=v0.316.0

log() { printf 'monitoring toolchain: %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || { log "the Go toolchain is needed to build promtool and prometheus from the Go module proxy"; exit 1; }

# The stamp of a part: everything that shapes its binary.
stamp_of() { { go version; printf '%s\n' "$@"; } | sha256sum | cut -d' ' -f1; }

# build <name> <module dir> <tags> <ldflags> <output> <package>
build() {
    local name=$1 dir=$2 tags=$3 ldflags=$4 out=$5 package=$6 want
    want=$(stamp_of "$(cat "$dir/go.mod" "$dir/go.sum")" "$tags" "$ldflags" "$package")
    if [ "$(cat "$stamps/$name" 2>/dev/null)" = "$want" ] && [ -x "$out" ]; then
        log "$name: up to date"
        return
    fi
    log "$name: building $package (go build in harness/monitoring/modules/$(basename "$dir"))"
    local started=$SECONDS
    (cd "$dir" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out" "$package")
    echo "$want" >"$stamps/$name"
    log "$name: built in $((SECONDS - started)) s"
}

# remove_all_sd: none of the cloud service discoveries (promtool still links Kubernetes' for its
# `check service-discovery`); the version promtool reports, as Prometheus' release build sets it.
prometheus_ldflags="-s -w -X github.com/prometheus/common/version.Version=${prometheus_version#v} -X github.com/prometheus/common/version.Branch=HEAD"
build promtool "$modules/prometheus" remove_all_sd "$prometheus_ldflags" "$bin/promtool" github.com/prometheus/prometheus/cmd/promtool
# The server, for the metric contract on real processes: scrapes the stand-in API on loopback (static
# targets: no service discovery needed) and evaluates the rendered rules. Its web UI's assets are not
# embedded (no `builtinassets` tag); the HTTP API the test queries does not need them.
build prometheus "$modules/prometheus" remove_all_sd "$prometheus_ldflags" "$bin/prometheus" github.com/prometheus/prometheus/cmd/prometheus

cat >"$cache/toolchain.json" <<JSON
{
  "promtool": "$bin/promtool",
  "prometheus": "$bin/prometheus",
  "prometheusModuleVersion": "$prometheus_version"
}
JSON
echo "$cache"
