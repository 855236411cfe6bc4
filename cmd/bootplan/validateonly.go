//go:build validateonly

package main

// The standalone validator: validate, compile, show, schema and completion, without stage two
// or the AWS SDK.
func init() { program = "bootplan-validate" }
