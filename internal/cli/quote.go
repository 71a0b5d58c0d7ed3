package cli

import "github.com/spf13/cobra"

// quoteSubs holds the constructors of the "sgxops quote ..." subcommands; each
// subcommand file adds itself in an init function.
var quoteSubs []func() *cobra.Command

func registerQuote(newCmd func() *cobra.Command) { quoteSubs = append(quoteSubs, newCmd) }

func init() { register(newQuoteCmd) }

func newQuoteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quote",
		Short: "Inspect and verify SGX/TDX DCAP quotes",
	}
	for _, newSub := range quoteSubs {
		cmd.AddCommand(newSub())
	}
	return cmd
}
