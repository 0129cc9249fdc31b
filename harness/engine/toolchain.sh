#!/usr/bin/env bash
# Builds the real-engine toolchain the e2e runs, from the Go module proxy, into a cache outside the
# repository ($HEALTHCARE_E2E_CACHE, default ~/.cache/healthcare-backend/e2e):
#   bin/pulumi                              Pulumi CLI (matches @pulumi/pulumi)
#   bin/pulumi-resource-kubernetes          kubernetes provider (4.25.0 code, reports the npm SDK's version)
#   bin/etcd, bin/kwok                      etcd; kwok's fake nodes and kubelets
#   bin/k8s-<version>/kube-*, kubectl       control plane(s): the e2e's (with its kubectl), and the oldest for dry runs
#   kwok-stages/                            kwok's own stage definitions, from its module
# Every part is built from a wrapper module committed under harness/engine/modules/ (go.mod + go.sum:
# `go build` refuses a module whose hash differs from go.sum) and skipped when a stamp says the
# same inputs built it already. The parts build in two lanes side by side (the Pulumi CLI then the
# provider; etcd, kwok, then the control planes): the other lane fills the stretches where one go
# build leaves a core idle (the largest packages, the links, the provider's schema generation). Cold:
# about 23 minutes on 2 cores (1,350 s, against 2,414 s one part after another); warm: seconds.
# Each part's lines start with its name.
#   bash harness/engine/toolchain.sh          build what is missing, print the cache folder
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
modules="$here/modules"
cache="${HEALTHCARE_E2E_CACHE:-$HOME/.cache/healthcare-backend/e2e}"
bin="$cache/bin"
stamps="$cache/stamps"
mkdir -p "$bin" "$stamps"

# Versions. The Kubernetes control planes: E2E_KUBERNETES runs the e2e and the sandbox; every
# version in DRY_RUN_KUBERNETES validates rendered manifests (npm run check:manifests).
pulumi_version=v3.248.0
provider_module=github.com/pulumi/pulumi-kubernetes/provider/v4
provider_pseudo=v4.0.0-20260115033456-f47bc2d6f199 # the v4.25.0 release commit, the only version served
provider_zip_sum="h1:j2bphCf7c2YhnBrhwht2f3TNRRgcMImltUlAgzxr9H4="
e2e_kubernetes=v1.37.2
dry_run_kubernetes=(v1.35.4 v1.37.2)

# The provider reports the version @pulumi/kubernetes asks for, so the engine uses this build for it.
provider_version=$(node -p "require('$root/node_modules/@pulumi/kubernetes/package.json').version" 2>/dev/null) || {
    echo "toolchain: node_modules/@pulumi/kubernetes is missing: run npm ci first" >&2
    exit 1
}

log() { printf 'toolchain: %s\n' "$*" >&2; }

# Cold, fetch every wrapper module's dependencies in the background while the first builds compile:
# downloading is network-bound, compiling CPU-bound. go's module cache is safe to share.
if [ ! -f "$cache/toolchain.json" ]; then
    (for dir in "$modules"/*/; do (cd "$dir" && go mod download) || true; done) >"$cache/prefetch.log" 2>&1 &
fi

# The stamp of a part: everything that shapes its binary.
stamp_of() { { go version; printf '%s\n' "$@"; } | sha256sum | cut -d' ' -f1; }
fresh() { # fresh <name> <stamp> <file>...: the part is built from exactly these inputs
    local name=$1 want=$2; shift 2
    [ "$(cat "$stamps/$name" 2>/dev/null)" = "$want" ] || return 1
    for f in "$@"; do [ -x "$f" ] || return 1; done
}
built() { echo "$2" > "$stamps/$1"; }

# build_wrapper <name> <module dir> <ldflags> <output (file, or folder ending in /)> <package>...
build_wrapper() {
    local name=$1 dir=$2 ldflags=$3 out=$4; shift 4
    local want outputs=()
    want=$(stamp_of "$(cat "$dir/go.mod" "$dir/go.sum")" "$ldflags" "$@")
    if [[ $out == */ ]]; then for p in "$@"; do outputs+=("$out${p##*/}"); done; else outputs=("$out"); fi
    if fresh "$name" "$want" "${outputs[@]}"; then log "$name: up to date"; return; fi
    log "$name: building $* (go build in ${dir#"$root"/})"
    local started=$SECONDS
    mkdir -p "$(dirname "${outputs[0]}")"
    (cd "$dir" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "$ldflags" -o "$out" "$@")
    built "$name" "$want"
    log "$name: built in $((SECONDS - started)) s"
}

# --- Pulumi CLI -------------------------------------------------------------------------------
build_pulumi() {
    build_wrapper pulumi "$modules/pulumi" \
        "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
        "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

# --- kubernetes provider ----------------------------------------------------------------------
# Its module zip lacks the generated schema embeds and its go.mod replaces the SDK with ../sdk:
# build from a copy with the committed go.mod/go.sum (harness/engine/modules/kubernetes-provider), after
# its own generate.go has written the embeds.
build_provider() {
    local provider_dir="$modules/kubernetes-provider"
    local provider_ldflags="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$provider_version"
    local want started info sum src work
    want=$(stamp_of "$provider_pseudo" "$provider_zip_sum" "$(cat "$provider_dir/go.mod" "$provider_dir/go.sum")" "$provider_ldflags")
    if fresh provider "$want" "$bin/pulumi-resource-kubernetes"; then
        log "provider: up to date"
    else
        started=$SECONDS
        log "provider: downloading $provider_module@$provider_pseudo"
        info=$(cd "$provider_dir" && go mod download -json "$provider_module@$provider_pseudo")
        sum=$(printf '%s' "$info" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
        src=$(printf '%s' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        if [ "$sum" != "$provider_zip_sum" ]; then
            log "provider: module hash $sum differs from the pinned $provider_zip_sum; refusing to build"
            exit 1
        fi
        work="$cache/src/pulumi-kubernetes-provider"
        rm -rf "$work" && mkdir -p "$(dirname "$work")" && cp -r "$src" "$work" && chmod -R u+w "$work"
        cp "$provider_dir/go.mod" "$provider_dir/go.sum" "$work/"
        log "provider: generating schema embeds (VERSION=$provider_version go run generate.go)"
        (cd "$work/cmd/pulumi-resource-kubernetes" && GOFLAGS="-mod=readonly -buildvcs=false" VERSION="$provider_version" go run generate.go)
        log "provider: building"
        (cd "$work" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "$provider_ldflags" -o "$bin/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
        built provider "$want"
        log "provider: built in $((SECONDS - started)) s"
    fi
}

# --- etcd and kwok ----------------------------------------------------------------------------
build_etcd_kwok() {
    build_wrapper etcd "$modules/etcd" "-s -w" "$bin/etcd" go.etcd.io/etcd/server/v3
    build_wrapper kwok "$modules/kwok" "-s -w" "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok
    # kwok's stage definitions (nodes, pods, volumes), from the same verified module.
    local kwok_src part f
    kwok_src=$(cd "$modules/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    mkdir -p "$cache/kwok-stages"
    for part in node/fast node/heartbeat-with-lease pod/fast volume/fast; do
        for f in "$kwok_src/kustomize/stage/$part"/*.yaml; do
            [ "$(basename "$f")" = kustomization.yaml ] || cp "$f" "$cache/kwok-stages/${part%%/*}-$(basename "$f")"
        done
    done
}

# --- Kubernetes control planes ----------------------------------------------------------------
kube_ldflags() { # the version the API server reports (/version), as a release build sets it
    local v=$1 minor=${1#v1.}; minor=${minor%%.*}
    echo "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$v"
}
build_kubernetes() {
    local v commands
    for v in $(printf '%s\n' "$e2e_kubernetes" "${dry_run_kubernetes[@]}" | sort -uV); do
        commands=(k8s.io/kubernetes/cmd/kube-apiserver)
        [ "$v" = "$e2e_kubernetes" ] && commands+=(k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
        build_wrapper "kubernetes-$v" "$modules/kubernetes-$v" "$(kube_ldflags "$v")" "$bin/k8s-$v/" "${commands[@]}"
    done
}

# --- Two lanes ---------------------------------------------------------------------------------
# About even cold (seconds measured one after another: pulumi 287 + provider 955; etcd 49 + kwok 142 +
# 1.35.4 411 + 1.37.2 570). A failing lane fails the script: the background lane's failure when the
# foreground one ends (its error is in the log as it happens), the foreground lane's at once, the
# background one then stopped with its go build. No `&&` in the lane: set -e does not apply to the
# left of one.
kill_tree() { # kill_tree <pid>: the process and its descendants, from /proc (no procps needed)
    local child
    # shellcheck disable=SC2013 # the file is one line of space-separated pids
    for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do kill_tree "$child"; done
    kill "$1" 2>/dev/null || true
}
(
    build_etcd_kwok
    build_kubernetes
) &
lane=$!
trap 'kill_tree "$lane"' EXIT
build_pulumi
build_provider
wait "$lane"
trap - EXIT

# What the e2e reads: versions and where everything is.
cat > "$cache/toolchain.json" <<JSON
{
  "pulumi": "$bin/pulumi",
  "pulumiVersion": "${pulumi_version#v}",
  "kubernetesProvider": "$bin/pulumi-resource-kubernetes",
  "kubernetesProviderVersion": "$provider_version",
  "kubernetesProviderSource": "$provider_module@$provider_pseudo (v4.25.0)",
  "etcd": "$bin/etcd",
  "kwok": "$bin/kwok",
  "kwokStages": "$cache/kwok-stages",
  "e2eKubernetes": "${e2e_kubernetes}",
  "dryRunKubernetes": [$(printf '"%s",' "${dry_run_kubernetes[@]}" | sed 's/,$//')],
  "kubernetesBin": "$bin"
}
JSON
echo "$cache"
