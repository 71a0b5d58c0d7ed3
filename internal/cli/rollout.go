package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// rolloutOptions are the flags shared by the rollout subcommands: kubeconfig
// conventions (KUBECONFIG, ~/.kube/config, --kubeconfig, --context,
// --namespace).
type rolloutOptions struct {
	kubeconfig string
	context    string
	namespace  string
	output     string
	revision   string
	wait       time.Duration
}

func (o *rolloutOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default: the current one)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the EnclaveApp (default: the context's)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
}

func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Show, promote or abort the rollout of an EnclaveApp (Kubernetes operator)",
		Long: `Show, promote or abort the blue/green rollout of an EnclaveApp reconciled by
sgxops-operator. promote and abort set an annotation naming the candidate
revision (sgxops.io/promote, sgxops.io/abort); the operator acts on it, so a
stale annotation never touches a later revision.`,
	}
	cmd.AddCommand(newRolloutStatusCmd(), newRolloutPromoteCmd(), newRolloutAbortCmd())
	return cmd
}

func newRolloutStatusCmd() *cobra.Command {
	var o rolloutOptions
	cmd := &cobra.Command{
		Use:   "status APP",
		Short: "Show the active and candidate revisions, every revision's phase and MRENCLAVE, and the conditions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := parseOutput(o.output)
			if err != nil {
				return err
			}
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			app, err := getEnclaveApp(cmd.Context(), c, ns, args[0])
			if err != nil {
				return err
			}
			return writeRolloutStatus(cmd.OutOrStdout(), app, out)
		},
	}
	o.bind(cmd)
	return cmd
}

func newRolloutPromoteCmd() *cobra.Command {
	var o rolloutOptions
	cmd := &cobra.Command{
		Use:   "promote APP",
		Short: "Promote the verified candidate (for autoPromote: false)",
		Long: `Promote the candidate revision of APP: the operator activates it in attestd
(the active release drains) and switches the stable Service to it. Only a
candidate whose in-cluster attestation test passed (condition Verified) can be
promoted. Exit 0: promotion requested (with --wait: done); 1: nothing to
promote or not verified; 5: the API server failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.annotate(cmd, args[0], v1.AnnotationPromote)
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&o.revision, "revision", "", "revision to promote (default: status.candidateRevision)")
	cmd.Flags().DurationVar(&o.wait, "wait", 0, "wait this long for the promotion to finish (0: do not wait)")
	return cmd
}

func newRolloutAbortCmd() *cobra.Command {
	var o rolloutOptions
	cmd := &cobra.Command{
		Use:   "abort APP",
		Short: "Abort the candidate: revoked in attestd, removed, traffic unchanged",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.annotate(cmd, args[0], v1.AnnotationAbort)
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&o.revision, "revision", "", "revision to abort (default: status.candidateRevision)")
	cmd.Flags().DurationVar(&o.wait, "wait", 0, "wait this long for the abort to finish (0: do not wait)")
	return cmd
}

// client builds a client from the kubeconfig conventions and returns the namespace to use.
func (o *rolloutOptions) client() (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	if o.namespace != "" {
		overrides.Context.Namespace = o.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", withExit(ExitUsage, fmt.Errorf("kubeconfig: %w", err))
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", withExit(ExitUsage, fmt.Errorf("kubeconfig: %w", err))
	}
	sch := runtime.NewScheme()
	if err := v1.AddToScheme(sch); err != nil {
		return nil, "", withExit(ExitInternal, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: sch})
	if err != nil {
		return nil, "", withExit(ExitInternal, err)
	}
	return c, ns, nil
}

func getEnclaveApp(ctx context.Context, c client.Client, ns, name string) (*v1.EnclaveApp, error) {
	var app v1.EnclaveApp
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &app); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, withExit(ExitInvalidInput, fmt.Errorf("EnclaveApp %s/%s not found", ns, name))
		}
		return nil, withExit(ExitInternal, err)
	}
	return &app, nil
}

// annotate asks the operator to promote or abort the candidate.
func (o *rolloutOptions) annotate(cmd *cobra.Command, name, key string) error {
	ctx := cmd.Context()
	out, err := parseOutput(o.output)
	if err != nil {
		return err
	}
	c, ns, err := o.client()
	if err != nil {
		return err
	}
	app, err := getEnclaveApp(ctx, c, ns, name)
	if err != nil {
		return err
	}
	rev := o.revision
	if rev == "" {
		rev = app.Status.CandidateRevision
	}
	if rev == "" {
		return withExit(ExitInvalidInput, fmt.Errorf("%s has no candidate revision (active: %q)", name, app.Status.ActiveRevision))
	}
	if rev == app.Status.ActiveRevision {
		return withExit(ExitInvalidInput, fmt.Errorf("revision %s is already active", rev))
	}
	if rev != app.Spec.Revision {
		return withExit(ExitInvalidInput, fmt.Errorf("revision %s is not spec.revision (%s)", rev, app.Spec.Revision))
	}
	if key == v1.AnnotationPromote {
		vc := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionVerified)
		if vc == nil || vc.Status != metav1.ConditionTrue || app.Status.CandidateRevision != rev {
			why := "no Verified condition"
			if vc != nil {
				why = fmt.Sprintf("Verified=%s (%s: %s)", vc.Status, vc.Reason, vc.Message)
			}
			return withExit(ExitInvalidInput, fmt.Errorf("candidate %s has not passed its attestation test: %s", rev, why))
		}
	}
	patch := client.MergeFrom(app.DeepCopy())
	if app.Annotations == nil {
		app.Annotations = map[string]string{}
	}
	app.Annotations[key] = rev
	if err := c.Patch(ctx, app, patch); err != nil {
		return withExit(ExitInternal, err)
	}
	verb := strings.TrimPrefix(key, "sgxops.io/")
	res := rolloutAction{Name: name, Namespace: ns, Revision: rev, Action: verb}
	report := func(done bool, msg string) error {
		res.Done = done
		if out == outputJSON {
			return writeJSON(cmd.OutOrStdout(), res)
		}
		_, err := fmt.Fprintln(cmd.OutOrStdout(), msg)
		return err
	}
	if o.wait <= 0 {
		return report(false, fmt.Sprintf("%s of %s/%s requested", verb, name, rev))
	}
	deadline := time.Now().Add(o.wait)
	for {
		app, err = getEnclaveApp(ctx, c, ns, name)
		if err != nil {
			return err
		}
		phase := v1.RevisionPhase("")
		for _, r := range app.Status.Revisions {
			if r.Name == rev {
				phase = r.Phase
			}
		}
		switch {
		case key == v1.AnnotationPromote && app.Status.ActiveRevision == rev:
			return report(true, rev+" is active")
		case key == v1.AnnotationAbort && phase == v1.PhaseFailed:
			return report(true, rev+" aborted")
		case key == v1.AnnotationPromote && phase == v1.PhaseFailed:
			return withExit(ExitInvalidInput, fmt.Errorf("%s failed during promotion", rev))
		case time.Now().After(deadline):
			return withExit(ExitInternal, errors.New("timed out waiting for the operator (is sgxops-operator running?)"))
		}
		select {
		case <-ctx.Done():
			return withExit(ExitInternal, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// rolloutAction is the JSON of `sgxops rollout promote|abort`.
type rolloutAction struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  string `json:"revision"`
	Action    string `json:"action"` // promote or abort
	// Done is true when --wait saw it finish; false when only requested.
	Done bool `json:"done"`
}

// rolloutStatus is the JSON of `sgxops rollout status`.
type rolloutStatus struct {
	Name      string              `json:"name"`
	Namespace string              `json:"namespace"`
	Revision  string              `json:"revision"`
	Status    v1.EnclaveAppStatus `json:"status"`
}

func writeRolloutStatus(w io.Writer, app *v1.EnclaveApp, out outputFormat) error {
	if out == outputJSON {
		return writeJSON(w, rolloutStatus{Name: app.Name, Namespace: app.Namespace, Revision: app.Spec.Revision, Status: app.Status})
	}
	st := app.Status
	fmt.Fprintf(w, "EnclaveApp %s/%s (attestd app %s)\n", app.Namespace, app.Name, st.App)
	fmt.Fprintf(w, "spec.revision: %s   active: %s   candidate: %s\n", app.Spec.Revision, dash(st.ActiveRevision), dash(st.CandidateRevision))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tPHASE\tMRENCLAVE\tMESSAGE")
	for _, r := range st.Revisions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Phase, dash(r.MREnclave), r.Message)
	}
	fmt.Fprintln(tw, "\nCONDITION\tSTATUS\tREASON\tMESSAGE")
	for _, c := range st.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
