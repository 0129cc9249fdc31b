//go:build tools

// Package tools keeps the pinned commands' dependencies in go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
