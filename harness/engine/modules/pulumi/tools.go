//go:build tools

// Package tools makes `go mod tidy` keep cmd/pulumi's dependencies in go.sum.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
