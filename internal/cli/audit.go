package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
)

// auditOptions are the flags shared by the audit subcommands.
type auditOptions struct {
	storeKind   string
	dataDir     string
	namespace   string
	kubeconfig  string
	output      string
	lockTimeout time.Duration
}

// Store kinds of --store (the names attestd's --store uses).
const (
	auditStoreBolt = "bbolt"
	auditStoreKube = "kubernetes"
)

func (o *auditOptions) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.storeKind, "store", auditStoreBolt, "store to read: bbolt (--data-dir) or kubernetes (--store-namespace)")
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "", "attestd data directory holding "+store.DefaultBoltFile+" (--store bbolt)")
	cmd.Flags().StringVar(&o.namespace, "store-namespace", "", "namespace of attestd's Kubernetes store (--store kubernetes)")
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().DurationVar(&o.lockTimeout, "lock-timeout", store.DefaultLockTimeout, "how long to wait for the store's file lock (--store bbolt)")
}

// where names the store in messages.
func (o auditOptions) where() string {
	if o.storeKind == auditStoreKube {
		return "namespace " + o.namespace
	}
	return o.dataDir
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and read attestd's hash-chained audit log",
		Long: `Verify and read the audit log of attestd's store, read-only.

--store bbolt (default) reads an attestd data directory (--data-dir). The file is
opened with a shared lock, so stop attestd (or work on a copy) first: a running
attestd holds the lock exclusively.

--store kubernetes reads the store attestd replicas share in a cluster
(--store-namespace), while they run. The API server is found the way kubectl
finds it: --kubeconfig, else $KUBECONFIG or ~/.kube/config, else the in-cluster
service account. Reading needs get and list on the sgxops.io Attestd* resources.`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditLogCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "verify (--data-dir DIR | --store kubernetes --store-namespace NS)",
		Short: "Verify the audit hash chain and that the stored trust set is what the log replays to",
		Long: `Verify every entry of the audit log: sequence numbers, prev_hash links, entry
hashes, time order, and that the chain ends at the head the store recorded.
Then replay the log (each entry records the state its commit wrote) and
compare the result with the stored releases, policies and policy-management
certificates, so that an edit of the store outside attestd is found.
Exit status: 0 valid, 3 broken chain (the first broken seq and the reason are
printed) or a stored object that differs from the log (the first one is
named), 1 the store cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			format, err := parseOutput(o.output)
			if err != nil {
				return err
			}
			return runAuditVerify(c.Context(), o, format, c.OutOrStdout())
		},
	}
	o.bind(cmd)
	return cmd
}

func newAuditLogCmd() *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "log (--data-dir DIR | --store kubernetes --store-namespace NS)",
		Short: "Print the audit log (unverified; see audit verify)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			format, err := parseOutput(o.output)
			if err != nil {
				return err
			}
			return runAuditLog(c.Context(), o, format, c.OutOrStdout())
		},
	}
	o.bind(cmd)
	return cmd
}

// openAuditStore opens the store read-only; failures exit 1, bad flags 2.
func openAuditStore(ctx context.Context, o auditOptions) (store.Store, error) {
	switch o.storeKind {
	case auditStoreBolt:
		if o.dataDir == "" {
			return nil, withExit(ExitUsage, errors.New("--data-dir is required with --store bbolt"))
		}
	case auditStoreKube:
		return openAuditKube(ctx, o)
	default:
		return nil, withExit(ExitUsage, fmt.Errorf("--store %q: want %s or %s", o.storeKind, auditStoreBolt, auditStoreKube))
	}
	if o.lockTimeout <= 0 {
		return nil, withExit(ExitUsage, fmt.Errorf("--lock-timeout must be positive, not %s", o.lockTimeout))
	}
	dataDir := o.dataDir
	s, err := store.OpenBolt(store.BoltPath(dataDir), store.BoltOptions{ReadOnly: true, LockTimeout: o.lockTimeout})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			err = fmt.Errorf("%w (is attestd running? stop it or verify a copy)", err)
		}
		return nil, withExit(ExitInvalidInput, fmt.Errorf("cannot read the store in %s: %w", dataDir, err))
	}
	return s, nil
}

// openAuditKube opens attestd's Kubernetes store read-only.
func openAuditKube(ctx context.Context, o auditOptions) (store.Store, error) {
	if o.namespace == "" {
		return nil, withExit(ExitUsage, errors.New("--store-namespace is required with --store kubernetes"))
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, withExit(ExitUsage, fmt.Errorf("kubeconfig: %w", err))
	}
	s, err := kube.Open(ctx, kube.Options{Config: cfg, Namespace: o.namespace, ReadOnly: true})
	if err != nil {
		return nil, withExit(ExitInvalidInput, fmt.Errorf("cannot read the store in namespace %s: %w", o.namespace, err))
	}
	return s, nil
}

// auditVerifyResult is the JSON output of audit verify.
type auditVerifyResult struct {
	Valid     bool        `json:"valid"`
	Entries   uint64      `json:"entries"` // verified entries (before the break, if broken)
	Head      *audit.Head `json:"head,omitempty"`
	BrokenSeq uint64      `json:"broken_seq,omitempty"`
	Reason    string      `json:"reason,omitempty"`
	Detail    string      `json:"detail,omitempty"`
	// State is the replay of the log against the stored objects (absent
	// when the chain is broken).
	State *auditStateResult `json:"state,omitempty"`
}

// auditStateResult reports the state check of audit verify.
type auditStateResult struct {
	Matches     bool     `json:"matches"`
	Releases    int      `json:"releases"`
	Policies    int      `json:"policies"`
	PolicyCerts bool     `json:"policy_certificates"`
	Unproven    []string `json:"unproven,omitempty"` // written before state records: chain only
	Object      string   `json:"object,omitempty"`   // the first object that differs
	Detail      string   `json:"detail,omitempty"`
}

func runAuditVerify(ctx context.Context, o auditOptions, format outputFormat, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	where := o.where()
	s, err := openAuditStore(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	st, verr := store.VerifyState(ctx, s)
	var ce *audit.ChainError
	mismatch := errors.Is(verr, store.ErrStateMismatch)
	if verr != nil && !errors.As(verr, &ce) && !mismatch {
		return withExit(ExitInvalidInput, fmt.Errorf("reading the store in %s: %w", where, verr))
	}
	res := auditVerifyResult{Valid: verr == nil, Entries: st.Entries}
	if ce != nil {
		res.BrokenSeq, res.Reason, res.Detail = ce.Seq, string(ce.Reason), ce.Detail
	} else {
		res.Head = &st.Head
		res.State = &auditStateResult{Matches: !mismatch, Releases: st.Releases, Policies: st.Policies,
			PolicyCerts: st.PolicyCerts, Unproven: st.Unproven}
		var se *store.StateError
		if errors.As(verr, &se) {
			res.State.Object = se.Object
		}
		if mismatch {
			res.State.Detail = verr.Error()
		}
	}
	if format == outputJSON {
		err = writeJSON(w, res)
	} else {
		err = writeAuditVerifyText(w, res, st)
	}
	if err != nil {
		return withExit(ExitInternal, err)
	}
	if verr != nil {
		return withExit(ExitVerifyFailed, verr)
	}
	return nil
}

func writeAuditVerifyText(w io.Writer, res auditVerifyResult, st store.StateStatus) error {
	if res.BrokenSeq > 0 {
		_, err := fmt.Fprintf(w, "audit log BROKEN at seq %d: %s\n%d entries verified before it\n", res.BrokenSeq, res.Reason, st.Entries)
		return err
	}
	fmt.Fprintf(w, "audit log valid: %d entries\nhead: seq %d hash %s\n", st.Entries, st.Head.Seq, st.Head.Hash)
	if s := res.State; !s.Matches {
		_, err := fmt.Fprintf(w, "stored state DIFFERS from the audit log: %s\n", s.Detail)
		return err
	}
	_, err := fmt.Fprintf(w, "stored state matches the audit log: %d releases, %d policies, policy certificates %s\n",
		st.Releases, st.Policies, map[bool]string{true: "recorded", false: "none"}[st.PolicyCerts])
	if err == nil && len(st.Unproven) > 0 {
		_, err = fmt.Fprintf(w, "%d objects last written before state records (chain verified only): %s\n",
			len(st.Unproven), strings.Join(st.Unproven, ", "))
	}
	return err
}

func runAuditLog(ctx context.Context, o auditOptions, format outputFormat, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	where := o.where()
	s, err := openAuditStore(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	entries, err := s.ListAudit(ctx, 0, 0)
	if err != nil {
		code := ExitInvalidInput
		var ee *store.EntryError
		if errors.As(err, &ee) {
			code = ExitVerifyFailed
		}
		return withExit(code, fmt.Errorf("reading the audit log in %s: %w", where, err))
	}
	if format == outputJSON {
		if entries == nil {
			entries = []audit.Entry{}
		}
		err = writeJSON(w, entries)
	} else {
		err = writeAuditText(w, entries)
	}
	if err != nil {
		return withExit(ExitInternal, err)
	}
	return nil
}

func writeAuditText(w io.Writer, entries []audit.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tRELEASE\tDETAILS\tHASH")
	for _, e := range entries {
		rel := "-"
		if e.App != "" || e.Release != "" {
			rel = e.App + "/" + e.Release
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339Nano),
			quoteIfNeeded(e.Actor), e.Action, quoteIfNeeded(rel), formatDetails(e.Details), e.Hash.String()[:16])
	}
	return tw.Flush()
}

func formatDetails(d map[string]string) string {
	if len(d) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, quoteIfNeeded(k)+"="+quoteIfNeeded(d[k]))
	}
	return strings.Join(parts, " ")
}

// quoteIfNeeded quotes s when it is empty or holds characters that would
// make a log line ambiguous or unsafe on a terminal.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '=' || r == 0x7f || !strconv.IsPrint(r)
	}) {
		return strconv.Quote(s)
	}
	return s
}
