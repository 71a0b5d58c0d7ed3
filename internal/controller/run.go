package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// run is one reconcile of one EnclaveApp.
type run struct {
	r               *Reconciler
	app             *v1.EnclaveApp
	key             types.NamespacedName
	appName         string // attestd app
	now             time.Time
	next            time.Duration // RequeueAfter: the nearest timer
	att             *attestdClient
	active          string // the revision the stable Service selects
	activeAvailable bool
	log             logr.Logger
}

// after asks for a reconcile within d (a timeout or a drain expiring).
func (x *run) after(d time.Duration) {
	if d < time.Second {
		d = time.Second
	}
	if x.next == 0 || d < x.next {
		x.next = d
	}
}

// did reports an action to the test hook.
func (x *run) did(action string) error {
	if h := x.r.opts.AfterAction; h != nil {
		return h(x.key, action)
	}
	return nil
}

func (x *run) attestd(ctx context.Context) (*attestdClient, error) {
	if x.att == nil {
		a, err := x.r.attestdFor(ctx, x.app)
		if err != nil {
			return nil, err
		}
		x.att = a
	}
	return x.att, nil
}

func (x *run) event(typ, reason, format string, args ...any) {
	if x.r.rec != nil {
		x.r.rec.Eventf(x.app, nil, typ, reason, "Reconcile", format, args...)
	}
}

func (x *run) cond(typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&x.app.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: x.app.Generation})
}

// rev returns the status entry of name, adding it when new.
func (x *run) rev(name string) *v1.RevisionStatus {
	st := &x.app.Status
	for i := range st.Revisions {
		if st.Revisions[i].Name == name {
			return &st.Revisions[i]
		}
	}
	t := metav1.NewTime(x.now)
	st.Revisions = append(st.Revisions, v1.RevisionStatus{Name: name, Phase: v1.PhaseBuilding, LastTransitionTime: &t})
	return &st.Revisions[len(st.Revisions)-1]
}

// phase sets rs's phase and message; a new phase is an event.
func (x *run) phase(rs *v1.RevisionStatus, p v1.RevisionPhase, msg string) {
	rs.Message = msg
	if rs.Phase == p {
		return
	}
	from := rs.Phase
	rs.Phase = p
	t := metav1.NewTime(x.now)
	rs.LastTransitionTime = &t
	typ := corev1.EventTypeNormal
	if p == v1.PhaseFailed {
		typ = corev1.EventTypeWarning
	}
	x.event(typ, "Revision"+string(p), "revision %s: %s -> %s: %s", rs.Name, from, p, msg)
}

func (x *run) get(ctx context.Context, name string, obj client.Object) (bool, error) {
	err := x.r.client.Get(ctx, types.NamespacedName{Namespace: x.app.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// create makes obj owned by the app; an existing object (made by an earlier
// run that stopped before recording it) is not an error.
func (x *run) create(ctx context.Context, obj client.Object, action string) error {
	if err := controllerutil.SetControllerReference(x.app, obj, x.r.client.Scheme()); err != nil {
		return err
	}
	if err := x.r.client.Create(ctx, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	return x.did(action)
}

func (x *run) remove(ctx context.Context, obj client.Object, name string) error {
	ok, err := x.get(ctx, name, obj)
	if err != nil || !ok {
		return err
	}
	if !metav1.IsControlledBy(obj, x.app) || obj.GetDeletionTimestamp() != nil {
		return nil // not ours, or already going
	}
	err = x.r.client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if client.IgnoreNotFound(err) != nil {
		return err
	}
	return x.did("delete " + name)
}

type jobState int

const (
	jobRunning jobState = iota
	jobSucceeded
	jobFailed
)

func stateOf(j *batchv1.Job) (jobState, string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobSucceeded, ""
		case batchv1.JobFailed:
			return jobFailed, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return jobRunning, ""
}

// jobPod finds the newest finished pod of rev's component (uncached: pods
// are not watched).
func (x *run) jobPod(ctx context.Context, rev, component string) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := x.r.reader.List(ctx, &pods, client.InNamespace(x.app.Namespace), client.MatchingLabels{
		v1.LabelApp: x.app.Name, v1.LabelRevision: rev, v1.LabelComponent: component}); err != nil {
		return nil, err
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[j].CreationTimestamp.Before(&pods.Items[i].CreationTimestamp)
	})
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return p, nil
		}
	}
	return nil, nil
}

// terminated returns the termination message and image ID of a container
// (init containers included).
func terminated(p *corev1.Pod, name string) (msg, imageID string, exit int32, ok bool) {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name != name {
			continue
		}
		if t := cs.State.Terminated; t != nil {
			return t.Message, cs.ImageID, t.ExitCode, true
		}
		return "", cs.ImageID, 0, false
	}
	return "", "", 0, false
}

// failureMessage is why a pod of a failed Job failed: the first container
// that exited non-zero, with its termination message.
func failureMessage(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("container %s exited %d: %s", cs.Name, t.ExitCode, lastLine(t.Message))
		}
	}
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 512 {
		s = s[len(s)-512:]
	}
	return s
}

// deadline checks a step that started at start: it fails when timeout has
// passed, else asks to be woken then.
func (x *run) deadline(start metav1.Time, timeout time.Duration) bool {
	left := start.Add(timeout).Sub(x.now)
	if left <= 0 {
		return true
	}
	x.after(left)
	return false
}

// errPermanent marks an attestd refusal retrying cannot fix.
func permanent(err error) (*AttestdError, bool) {
	var ae *AttestdError
	if errors.As(err, &ae) && ae.Permanent() {
		return ae, true
	}
	return nil, false
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
