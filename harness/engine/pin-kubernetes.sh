#!/usr/bin/env bash
# Writes the wrapper module that pins one Kubernetes release's control-plane binaries:
# harness/engine/modules/kubernetes-<version>/{go.mod,go.sum,tools.go}. Run it only to change versions
# (the toolchain builds from the committed files, checked against their go.sum).
#   bash harness/engine/pin-kubernetes.sh v1.37.2 kube-apiserver kube-controller-manager kube-scheduler
set -euo pipefail
version=${1:?usage: pin-kubernetes.sh vX.Y.Z command...}; shift
[ "$#" -gt 0 ] || { echo "pin-kubernetes.sh: name at least one cmd/ (e.g. kube-apiserver)" >&2; exit 2; }
dir="$(cd "$(dirname "$0")" && pwd)/modules/kubernetes-$version"
mkdir -p "$dir" && cd "$dir"
rm -f go.mod go.sum
minor_patch=${version#v1.}
{
  echo "// Wrapper module pinning Kubernetes $version's $* for the e2e control plane."
  echo "// Written by harness/engine/pin-kubernetes.sh; k8s.io/kubernetes replaces its staging modules with"
  echo "// ./staging paths, which a dependency cannot use, so each is pinned to v0.$minor_patch here."
  echo "module healthcare-backend/e2e/kubernetes-$version"
  echo
  echo "go 1.26"
} > go.mod
# Every module k8s.io/kubernetes takes from ./staging, at the matching v0.<minor>.<patch>.
curl -fsS "$(go env GOPROXY | cut -d, -f1)/k8s.io/kubernetes/@v/$version.mod" \
  | sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' | sort -u \
  | while read -r m; do go mod edit -replace "$m=$m@v0.$minor_patch"; done
{
  echo "//go:build tools"
  echo
  echo "// Package tools keeps the pinned commands' dependencies in go.sum."
  echo "package tools"
  echo
  echo "import ("
  for c in "$@"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
  echo ")"
} > tools.go
go get "k8s.io/kubernetes@$version"
go mod tidy
# tidy keeps the requirement only because tools.go imports it; make sure it is the pinned one.
grep -q "k8s.io/kubernetes $version" go.mod || { echo "pin-kubernetes.sh: go.mod lost k8s.io/kubernetes $version" >&2; exit 1; }
echo "pinned $dir"
