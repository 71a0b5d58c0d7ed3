package cli

import "github.com/spf13/cobra"

func newQuoteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quote",
		Short: "Inspect and verify SGX/TDX DCAP quotes",
	}
	cmd.AddCommand(newQuoteInspectCmd(), newQuoteVerifyCmd())
	return cmd
}
