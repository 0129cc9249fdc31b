//go:build tools

// Package tools keeps the pinned command's dependencies in go.sum.
package tools

import _ "go.etcd.io/etcd/server/v3"
