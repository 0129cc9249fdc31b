# shellcheck shell=bash
# Sourced by .ci/run (bash): makes sure Node.js and Go are new enough before anything else runs.
#   ensure_node   Node.js 20 or later (package.json's engines), or stop saying what to install
#   ensure_go     Go at least as new as every wrapper module's `go` line; an older go (Debian 12's and
#                 Ubuntu 24.04's golang-go) gets the pinned toolchain from the Go module proxy
# Each prints what it found and exits the shell with status 1 when it cannot go on.

# The Go toolchain brought in when the installed go is older than the modules need: the one CI runs.
ci_go_toolchain=go1.26.8
# Node.js's oldest major the project runs on (package.json "engines": ">=20").
ci_node_major=20

ci_say() { printf '.ci/run: %s\n' "$*" >&2; }

# version_at_least <have> <want>: dotted versions, e.g. 1.22.2 1.26.0.
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

ensure_node() {
    local found major
    found=$(node --version 2>/dev/null || true)
    major=${found#v}
    major=${major%%.*}
    if [ -z "$found" ] || ! [ "$major" -ge "$ci_node_major" ] 2>/dev/null; then
        ci_say "Node.js $ci_node_major or later is needed (found: ${found:-none}; Debian 12 and Ubuntu 24.04 ship 18 in apt)."
        ci_say "Install Node.js $ci_node_major or later, then run .ci/run again: NodeSource's apt repository (https://github.com/nodesource/distributions), nvm, or https://nodejs.org/en/download"
        exit 1
    fi
    ci_say "Node.js $found"
}

# The newest `go` line among the wrapper modules (harness/engine/modules/*/go.mod), as x.y.z.
go_needed() {
    local want
    want=$(sed -n 's/^go \([0-9][0-9.]*\)$/\1/p' "${CI_ROOT:-.}"/harness/engine/modules/*/go.mod | sort -V | tail -n1)
    case $want in *.*.*) ;; *) want=$want.0 ;; esac
    echo "$want"
}

# The version the go on PATH reports (go1.22.2 -> 1.22.2), empty when there is none.
go_found() { { go version 2>/dev/null || true; } | sed -n 's/^go version go\([0-9][0-9.]*\).*/\1/p'; }

ensure_go() {
    local want have
    want=$(go_needed)
    have=$(go_found)
    if [ -z "$have" ]; then
        ci_say "no go on PATH: install golang-go (any version; .ci/run brings a newer toolchain when needed)"
        exit 1
    fi
    if version_at_least "$have" "$want"; then
        ci_say "Go $have (the modules need $want or later)"
        return
    fi
    local pinned=${ci_go_toolchain#go}
    if version_at_least "$have" 1.21.0; then
        # Go's own toolchain switching: go downloads golang.org/toolchain from the module proxy,
        # checked against the checksum database, and runs it. Distributions set GOTOOLCHAIN=local in
        # their go.env, so it is named here.
        ci_say "Go $have is older than the modules' $want: using $ci_go_toolchain through GOTOOLCHAIN (golang.org/toolchain from the Go module proxy)"
        export GOTOOLCHAIN=$ci_go_toolchain
    else
        # Before Go 1.21 there is no switching: fetch the same module with `go mod download` (from the
        # proxy, checked against the checksum database) and put its bin/ first on PATH.
        local os arch info dir home
        os=$(go env GOHOSTOS)
        arch=$(go env GOHOSTARCH)
        ci_say "Go $have is older than the modules' $want and cannot switch toolchains: fetching golang.org/toolchain@v0.0.1-$ci_go_toolchain.$os-$arch from the Go module proxy"
        info=$(cd "${TMPDIR:-/tmp}" && GO111MODULE=on go mod download -json "golang.org/toolchain@v0.0.1-$ci_go_toolchain.$os-$arch") || {
            ci_say "could not fetch the Go toolchain from the module proxy ($(go env GOPROXY)): install Go $want or later (https://go.dev/dl/) and run .ci/run again"
            exit 1
        }
        dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
        # The module cache is read-only and its zips keep no executable bits: a copy of its own.
        home="${HOME:-/root}/.cache/healthcare-backend/go/$ci_go_toolchain"
        if [ ! -x "$home/bin/go" ]; then
            rm -rf "$home" && mkdir -p "$(dirname "$home")" && cp -r "$dir" "$home" && chmod -R u+w "$home"
            chmod +x "$home"/bin/* "$home"/pkg/tool/*/*
        fi
        export PATH="$home/bin:$PATH" GOTOOLCHAIN=local
    fi
    have=$(go_found)
    if [ "$have" != "$pinned" ]; then
        ci_say "asked for $ci_go_toolchain but go reports ${have:-nothing}: install Go $want or later (https://go.dev/dl/) and run .ci/run again"
        exit 1
    fi
    ci_say "Go $have"
}
