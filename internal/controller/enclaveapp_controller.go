package controller

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// DefaultSgxopsImage is the image holding /sgxops (measure, probe, self-copy).
const DefaultSgxopsImage = "sgxops.local/sgxops:0.1.0"

// EventRecorder is the part of client-go's events.EventRecorder the
// reconciler uses.
type EventRecorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...interface{})
}

// Options configure a Reconciler. The zero value is usable; New copies it.
type Options struct {
	// SgxopsImage runs measure, probe and self-copy. Zero: DefaultSgxopsImage.
	SgxopsImage string
	// Now is the clock. Zero: time.Now.
	Now func() time.Time
	// AttestdTimeout bounds each admin call. Zero: 15s.
	AttestdTimeout time.Duration
	// Logs returns the tail of a pod container's log, for Job mode status.
	// Zero: the container's termination message stands in.
	Logs func(ctx context.Context, namespace, pod, container string) (string, error)
	// MaxConcurrentReconciles is how many EnclaveApps are reconciled at once
	// (one object is never reconciled twice at the same time). Zero: 1.
	MaxConcurrentReconciles int
	// AfterAction is called after each change made outside the EnclaveApp
	// (a Job created, a release registered, the Service switched, ...) and
	// after each status write; an error ends the reconcile there. Tests use
	// it to stop the manager after every step. Zero: nothing.
	AfterAction func(app types.NamespacedName, action string) error
}

// Reconciler reconciles EnclaveApps.
type Reconciler struct {
	client client.Client
	reader client.Reader // uncached: pods, the admin token, the CA bundle
	rec    EventRecorder
	opts   Options

	mu  sync.Mutex
	hcs map[[32]byte]*http.Client // attestd HTTP clients by CA bundle
}

// New returns a Reconciler using c (cached), reader (uncached) and rec.
func New(c client.Client, reader client.Reader, rec EventRecorder, opts Options) *Reconciler {
	if opts.SgxopsImage == "" {
		opts.SgxopsImage = DefaultSgxopsImage
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AttestdTimeout <= 0 {
		opts.AttestdTimeout = 15 * time.Second
	}
	return &Reconciler{client: c, reader: reader, rec: rec, opts: opts, hcs: map[[32]byte]*http.Client{}}
}

// CacheOptions limits the manager's cache to namespace (all when empty) and
// to the Jobs, Deployments, Services and Secrets the operator made (label
// app.kubernetes.io/managed-by=sgxops-operator), so memory does not grow with
// the cluster's other objects.
func CacheOptions(namespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{v1.LabelManagedBy: v1.ManagedBy})
	o := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&batchv1.Job{}:                  {Label: managed},
		&appsv1.Deployment{}:            {Label: managed},
		&corev1.Service{}:               {Label: managed},
		&corev1.Secret{}:                {Label: managed},
		&v1.EnclaveApp{}:                {},
		&corev1.PersistentVolumeClaim{}: {Label: managed},
	}}
	if namespace != "" {
		o.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return o
}

// SetupWithManager registers the reconciler. It runs on changes of the
// EnclaveApp's spec or annotations (its own status writes do not wake it) and
// of the objects it owns; timers only for timeouts and drain expiry.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("enclaveapp").
		For(&v1.EnclaveApp{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.Job{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.opts.MaxConcurrentReconciles)}).
		Complete(r)
}

// RBAC of the operator; each rule says why.
//
// The EnclaveApps themselves, their status, and the finalizer:
// +kubebuilder:rbac:groups=sgxops.io,resources=enclaveapps,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=sgxops.io,resources=enclaveapps/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sgxops.io,resources=enclaveapps/finalizers,verbs=update
// Build, test and run Jobs (created, watched, deleted when a revision retires):
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// Each revision's Deployment (created, scaled, deleted):
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// The per-revision Services and the stable Service (its selector is switched):
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// Measurement Secrets (created), and the attestd admin token (read):
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create
// Per-revision artifact volumes:
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;delete
// Build and test pods: their termination messages carry the measurement and the test's reason:
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// Job mode: the tail of the run pod's log goes to status:
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get
// attestd's CA bundle:
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// Events for every transition and failure:
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// Leader election:
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch

// Reconcile moves one EnclaveApp one step further; see the package doc.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var app v1.EnclaveApp
	if err := r.client.Get(ctx, req.NamespacedName, &app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	x := &run{r: r, app: &app, key: req.NamespacedName, now: r.opts.Now(), log: logf.FromContext(ctx)}
	x.appName = app.Spec.App
	if x.appName == "" {
		x.appName = app.Name
	}
	if !app.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, x.finalize(ctx)
	}
	if !controllerutil.ContainsFinalizer(&app, v1.Finalizer) {
		patch := client.MergeFrom(app.DeepCopy())
		controllerutil.AddFinalizer(&app, v1.Finalizer)
		if err := r.client.Patch(ctx, &app, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	orig := app.Status.DeepCopy()
	err := x.reconcile(ctx)
	x.summarize()
	if !equality.Semantic.DeepEqual(orig, &app.Status) {
		if uerr := r.client.Status().Update(ctx, &app); uerr != nil {
			if apierrors.IsConflict(uerr) {
				// The object changed under us: read it again shortly.
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, uerr
		}
		if err == nil {
			err = x.did("status")
		}
	}
	if err != nil {
		// Retried with backoff; say so where people look (events are
		// aggregated, so a retry loop does not flood).
		x.event(corev1.EventTypeWarning, "ReconcileError", "%v", err)
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: x.next}, nil
}

// httpClient returns the attestd client for a CA bundle (shared across
// reconciles so connections are reused).
func (r *Reconciler) httpClient(caPEM []byte) (*http.Client, error) {
	k := sha256.Sum256(caPEM)
	r.mu.Lock()
	defer r.mu.Unlock()
	if hc, ok := r.hcs[k]; ok {
		return hc, nil
	}
	hc, err := newHTTPClient(caPEM, r.opts.AttestdTimeout)
	if err != nil {
		return nil, err
	}
	r.hcs[k] = hc
	return hc, nil
}

// attestdFor reads the app's admin token and CA bundle (uncached) and
// returns a client for its attestd.
func (r *Reconciler) attestdFor(ctx context.Context, a *v1.EnclaveApp) (*attestdClient, error) {
	ref := a.Spec.Attestd.AdminTokenSecret
	key := ref.Key
	if key == "" {
		key = "token"
	}
	var s corev1.Secret
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: a.Namespace, Name: ref.Name}, &s); err != nil {
		return nil, fmt.Errorf("controller: attestd admin token Secret %s: %w", ref.Name, err)
	}
	tok := string(s.Data[key])
	if tok == "" {
		return nil, fmt.Errorf("controller: attestd admin token Secret %s has no key %q", ref.Name, key)
	}
	var ca []byte
	if c := a.Spec.Attestd.CABundle; c != nil {
		ck := c.Key
		if ck == "" {
			ck = "ca.crt"
		}
		var cm corev1.ConfigMap
		if err := r.reader.Get(ctx, types.NamespacedName{Namespace: a.Namespace, Name: c.Name}, &cm); err != nil {
			return nil, fmt.Errorf("controller: attestd CA bundle ConfigMap %s: %w", c.Name, err)
		}
		ca = []byte(cm.Data[ck])
	}
	hc, err := r.httpClient(ca)
	if err != nil {
		return nil, err
	}
	return &attestdClient{base: a.Spec.Attestd.URL, token: tok, hc: hc}, nil
}
