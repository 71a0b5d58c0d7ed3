// Package config is attestd's configuration: one typed Config that flows
// defaults (Default) → JSON file (LoadFile) → command-line flags (ParseFlags)
// → Validate. The attestd package takes a validated Config; cmd/attestd wires
// the flags to it.
//
// Flag names, JSON keys, defaults and validation messages are an interface:
// the Helm chart and operators' scripts pass them.
package config
