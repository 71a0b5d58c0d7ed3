package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// commandTree is every command path of sgxops, as registered before the
// commands moved from init() side effects into root.go's explicit list.
var commandTree = []string{
	"sgxops",
	"sgxops attest",
	"sgxops audit",
	"sgxops audit log",
	"sgxops audit verify",
	"sgxops collateral",
	"sgxops collateral fetch",
	"sgxops collateral show",
	"sgxops demo",
	"sgxops doctor",
	"sgxops measure",
	"sgxops probe",
	"sgxops quote",
	"sgxops quote inspect",
	"sgxops quote verify",
	"sgxops rollout",
	"sgxops rollout abort",
	"sgxops rollout promote",
	"sgxops rollout status",
	"sgxops self-copy",
	"sgxops sim",
	"sgxops sim collateral",
	"sgxops sim init",
	"sgxops sim pcs",
	"sgxops sim quote",
	"sgxops version",
}

// TestCommandTree: the command set (hidden commands included) is exactly the
// expected one; cobra lists subcommands sorted by name.
func TestCommandTree(t *testing.T) {
	var got []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		got = append(got, c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCmd())
	if !slices.Equal(got, commandTree) {
		t.Fatalf("command tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(commandTree, "\n"))
	}
}
