package controller

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
)

const waitLong = 60 * time.Second

// TestRolloutBlueGreen: v1 is built, measured, registered, deployed, tested
// and promoted; then v2 replaces it and v1 drains and retires.
func TestRolloutBlueGreen(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	ctx := context.Background()
	sw := watchService(t, ns, "agg", k)

	if err := env.Client.Create(ctx, newApp(ns, "agg", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	a := waitPhase(t, ns, "agg", "v1", v1.PhaseActive, waitLong)
	_, mr1 := sampleMeasurement(t, "v1", false)
	r1 := revStatus(a, "v1")
	if a.Status.ActiveRevision != "v1" || r1.MREnclave != mr1 || a.Status.ActiveMREnclaveShort != mr1[:12] {
		t.Fatalf("after v1: %s (want MRENCLAVE %s)", summary(a), mr1)
	}
	if r1.ArtifactSHA256 == "" || r1.BuilderImageDigest == "" || r1.SourceRef != "image:sgxops.local/sample:0.1.0" {
		t.Errorf("v1 provenance: %+v", r1)
	}
	eventually(t, waitLong, "Ready", func() (bool, string) {
		a = getApp(t, ns, "agg")
		return condition(a, v1.ConditionReady).Status == metav1.ConditionTrue, summary(a)
	})
	for _, c := range []string{v1.ConditionBuilt, v1.ConditionMeasured, v1.ConditionRegistered, v1.ConditionDeployed, v1.ConditionVerified, v1.ConditionPromoted} {
		if condition(a, c).Status != metav1.ConditionTrue {
			t.Errorf("condition %s: %+v", c, condition(a, c))
		}
	}
	var sec corev1.Secret
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "agg-v1-measurement"}, &sec); err != nil {
		t.Fatal(err)
	}
	if string(sec.Data[KeyMREnclave]) != mr1 || !metav1.IsControlledBy(&sec, a) {
		t.Errorf("measurement Secret: %v %v", sec.Data, sec.OwnerReferences)
	}
	if v := att.release(t, "agg", "v1"); v == nil || v.State != release.Active || v.MREnclave != mr1 {
		t.Fatalf("attestd v1: %+v", v)
	}
	// The build and runtime containers get the revision.
	var bj batchv1.Job
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "agg-v1-build"}, &bj); err != nil {
		t.Fatal(err)
	}
	if e := bj.Spec.Template.Spec.InitContainers[0].Env[0]; e.Name != "SGXOPS_REVISION" || e.Value != "v1" {
		t.Errorf("build env: %+v", e)
	}

	setRevision(t, ns, "agg", "v2")
	a = waitPhase(t, ns, "agg", "v2", v1.PhaseActive, waitLong)
	if a.Status.ActiveRevision != "v2" || a.Status.CandidateRevision != "" {
		t.Fatalf("after v2: %s", summary(a))
	}
	var svc corev1.Service
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "agg"}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector[v1.LabelRevision] != "v2" {
		t.Errorf("stable Service selects %v", svc.Spec.Selector)
	}
	if v := att.release(t, "agg", "v1"); v.State != release.Draining && v.State != release.Retired {
		t.Errorf("attestd v1 after promotion: %s", v.State)
	}
	// v1 drains for drainGrace (2s), then is retired and scaled away.
	a = waitPhase(t, ns, "agg", "v1", v1.PhaseRetired, waitLong)
	if v := att.release(t, "agg", "v1"); v.State != release.Retired {
		t.Errorf("attestd v1: %s", v.State)
	}
	eventually(t, waitLong, "v1 Deployment gone", func() (bool, string) {
		var d appsv1.Deployment
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "agg-v1"}, &d)
		return apierrors.IsNotFound(err) || d.DeletionTimestamp != nil, "exists"
	})
	for _, rel := range []string{"v1", "v2"} {
		if n := att.auditCount(t, "agg", rel, audit.ActionRegister); n != 1 {
			t.Errorf("%s registered %d times", rel, n)
		}
		if n := att.auditCount(t, "agg", rel, audit.ActionActivate); n != 1 {
			t.Errorf("%s activated %d times", rel, n)
		}
	}
	sw.check(t, 2)
	checkEvents(t, ns, "agg", "Registered", "Promoted", "RevisionRetired")
}

func checkEvents(t *testing.T, ns, name string, reasons ...string) {
	t.Helper()
	eventually(t, 10*time.Second, "events", func() (bool, string) {
		var evs eventsv1.EventList
		if err := env.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		got := map[string]bool{}
		for _, e := range evs.Items {
			if e.Regarding.Name == name {
				got[e.Reason] = true
			}
		}
		for _, r := range reasons {
			if !got[r] {
				return false, "missing event " + r
			}
		}
		return true, ""
	})
}

// TestAbortAfterLostStatusWrite: the candidate's test fails and it is revoked
// in attestd, but the status write after the revocation is lost (here: the
// step after the revoke fails once, as a crash or a conflict would end the
// reconcile). The next reconcile finds the revocation; it must report the
// abort it made (Verified TestFailed), not a foreign revocation
// (Registered ReleaseRevoked) with Verified stuck at "Testing". Found by
// TestAbortOnFailedTest failing once with exactly that status.
func TestAbortAfterLostStatusWrite(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	var lost atomic.Bool
	startManager(t, ns, nil, Options{AfterAction: func(_ types.NamespacedName, action string) error {
		if action == "revoke" && !lost.Swap(true) {
			return errCrash
		}
		return nil
	}})
	ctx := context.Background()
	if err := env.Client.Create(ctx, newApp(ns, "agg", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "agg", "v1", v1.PhaseActive, waitLong)
	k.set(func(k *fakeKubelet) { k.testFail["v2"] = true })
	setRevision(t, ns, "agg", "v2")
	a := waitPhase(t, ns, "agg", "v2", v1.PhaseFailed, waitLong)
	if !lost.Load() {
		t.Fatal("the revoke step was never reached")
	}
	if c := condition(a, v1.ConditionVerified); c.Reason != "TestFailed" || c.Status != metav1.ConditionFalse {
		t.Errorf("Verified: %+v", c)
	}
	if c := condition(a, v1.ConditionRegistered); c.Reason == "ReleaseRevoked" {
		t.Errorf("Registered: %+v (the operator's own revocation reported as a foreign one)", c)
	}
	if c := condition(a, v1.ConditionPromoted); c.Reason != "Aborted" {
		t.Errorf("Promoted: %+v", c)
	}
	if rs := revStatus(a, "v2"); !strings.HasPrefix(rs.Message, "TestFailed: ") {
		t.Errorf("v2 message %q", rs.Message)
	}
	if v := att.release(t, "agg", "v2"); v == nil || v.State != release.Revoked {
		t.Errorf("attestd v2: %+v", v)
	}
	if n := att.auditCount(t, "agg", "v2", audit.ActionRevoke); n != 1 {
		t.Errorf("attestd audit: v2 revoked %d times, want 1", n)
	}
	if a.Status.ActiveRevision != "v1" {
		t.Errorf("blue stopped serving: %s", summary(a))
	}
}

// TestAbortOnFailedTest: the candidate's test fails: it is revoked in
// attestd, removed, and the stable Service never moves off v1.
func TestAbortOnFailedTest(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	ctx := context.Background()
	sw := watchService(t, ns, "agg", k)
	if err := env.Client.Create(ctx, newApp(ns, "agg", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "agg", "v1", v1.PhaseActive, waitLong)
	k.set(func(k *fakeKubelet) { k.testFail["v2"] = true })
	setRevision(t, ns, "agg", "v2")
	a := waitPhase(t, ns, "agg", "v2", v1.PhaseFailed, waitLong)
	if a.Status.ActiveRevision != "v1" || revStatus(a, "v1").Phase != v1.PhaseActive {
		t.Errorf("blue stopped serving: %s", summary(a))
	}
	if c := condition(a, v1.ConditionVerified); c.Reason != "TestFailed" || c.Status != metav1.ConditionFalse {
		t.Errorf("Verified: %+v", c)
	}
	if c := condition(a, v1.ConditionPromoted); c.Reason != "Aborted" {
		t.Errorf("Promoted: %+v", c)
	}
	if v := att.release(t, "agg", "v2"); v == nil || v.State != release.Revoked {
		t.Errorf("attestd v2: %+v", v)
	}
	if v := att.release(t, "agg", "v1"); v.State != release.Active {
		t.Errorf("attestd v1: %s", v.State)
	}
	var svc corev1.Service
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "agg"}, &svc); err != nil || svc.Spec.Selector[v1.LabelRevision] != "v1" {
		t.Errorf("stable Service: %v %v", err, svc.Spec.Selector)
	}
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "agg-v2"}, &d); !apierrors.IsNotFound(err) && d.DeletionTimestamp == nil {
		t.Errorf("green Deployment still there: %v", err)
	}
	sw.check(t, 1)
	checkEvents(t, ns, "agg", "RevisionFailed", "Revoked")
}

// TestDebugEnclaveRefused: a build whose artifact is a DEBUG enclave is
// never registered.
func TestDebugEnclaveRefused(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	msg, mr := sampleMeasurement(t, "v1", true)
	k.set(func(k *fakeKubelet) { k.measure["v1"] = msg })
	startManager(t, ns, nil, Options{})
	if err := env.Client.Create(context.Background(), newApp(ns, "dbg", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	a := waitPhase(t, ns, "dbg", "v1", v1.PhaseFailed, waitLong)
	if c := condition(a, v1.ConditionMeasured); c.Reason != "DebugEnclave" {
		t.Errorf("Measured: %+v", c)
	}
	if revStatus(a, "v1").MREnclave != mr {
		t.Errorf("status MRENCLAVE %q, want %s", revStatus(a, "v1").MREnclave, mr)
	}
	if v := att.release(t, "dbg", "v1"); v != nil {
		t.Errorf("DEBUG enclave registered: %+v", v)
	}
	var sec corev1.Secret
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "dbg-v1-measurement"}, &sec); !apierrors.IsNotFound(err) {
		t.Errorf("measurement Secret of a DEBUG enclave: %v", err)
	}
}

// TestSameRevisionDifferentMREnclave: attestd already holds the revision
// name with another MRENCLAVE: refused, never overwritten or revoked.
func TestSameRevisionDifferentMREnclave(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	startKubelet(t, ns)
	other := "1111111111111111111111111111111111111111111111111111111111111111"
	if _, err := att.client().register(context.Background(), "dup", "v1", other); err != nil {
		t.Fatal(err)
	}
	startManager(t, ns, nil, Options{})
	if err := env.Client.Create(context.Background(), newApp(ns, "dup", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	a := waitPhase(t, ns, "dup", "v1", v1.PhaseFailed, waitLong)
	if c := condition(a, v1.ConditionRegistered); c.Reason != "MeasurementConflict" {
		t.Errorf("Registered: %+v", c)
	}
	v := att.release(t, "dup", "v1")
	if v.MREnclave != other || v.State != release.Candidate {
		t.Errorf("attestd release changed: %+v", v)
	}
	if n := att.auditCount(t, "dup", "v1", audit.ActionRegister); n != 1 {
		t.Errorf("registered %d times", n)
	}
}

// TestDeletionFinalizer: deleting the app retires its releases in attestd.
func TestDeletionFinalizer(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	ctx := context.Background()
	app := newApp(ns, "del", "v1", att.URL)
	if err := env.Client.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	a := waitPhase(t, ns, "del", "v1", v1.PhaseActive, waitLong)
	if len(a.Finalizers) != 1 || a.Finalizers[0] != v1.Finalizer {
		t.Fatalf("finalizers %v", a.Finalizers)
	}
	if err := env.Client.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "EnclaveApp gone", func() (bool, string) {
		var x v1.EnclaveApp
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "del"}, &x)
		return apierrors.IsNotFound(err), summary(&x)
	})
	if v := att.release(t, "del", "v1"); v.State != release.Retired {
		t.Errorf("attestd v1 after deletion: %s", v.State)
	}
}

// TestSupersededCandidate: spec.revision moves on while a candidate is being
// tested; the candidate is retired in attestd and removed, and the newer
// revision rolls out.
func TestSupersededCandidate(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	sw := watchService(t, ns, "sup", k)
	if err := env.Client.Create(context.Background(), newApp(ns, "sup", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "sup", "v1", v1.PhaseActive, waitLong)
	k.set(func(k *fakeKubelet) { k.hold["v2"] = true })
	setRevision(t, ns, "sup", "v2")
	waitPhase(t, ns, "sup", "v2", v1.PhaseTesting, waitLong)
	setRevision(t, ns, "sup", "v3")
	a := waitPhase(t, ns, "sup", "v3", v1.PhaseActive, waitLong)
	if r := revStatus(a, "v2"); r.Phase != v1.PhaseRetired || !strings.Contains(r.Message, "superseded") {
		t.Errorf("v2: %+v", r)
	}
	if v := att.release(t, "sup", "v2"); v.State != release.Retired {
		t.Errorf("attestd v2: %s", v.State)
	}
	if n := att.auditCount(t, "sup", "v2", audit.ActionActivate); n != 0 {
		t.Errorf("v2 activated %d times", n)
	}
	sw.check(t, 2)
}

// TestDeletionKeep: deletionPolicy Keep leaves attestd alone.
func TestDeletionKeep(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	ctx := context.Background()
	app := newApp(ns, "keep", "v1", att.URL)
	app.Spec.DeletionPolicy = v1.DeletionKeep
	if err := env.Client.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	a := waitPhase(t, ns, "keep", "v1", v1.PhaseActive, waitLong)
	if err := env.Client.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "EnclaveApp gone", func() (bool, string) {
		var x v1.EnclaveApp
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "keep"}, &x)
		return apierrors.IsNotFound(err), summary(&x)
	})
	if v := att.release(t, "keep", "v1"); v.State != release.Active {
		t.Errorf("attestd v1 after deletion with Keep: %s", v.State)
	}
}

// TestOwnAbort: only the reasons this operator writes when it revokes are
// taken back as its own abort; any other revocation stays foreign.
func TestOwnAbort(t *testing.T) {
	tests := []struct {
		revoked, cond, reason, msg string
		ok                         bool
	}{
		{"TestFailed: test Job a-v2-test failed: exit 1", v1.ConditionVerified, "TestFailed", "test Job a-v2-test failed: exit 1", true},
		{"StartTimeout: 0/1 replicas ready", v1.ConditionDeployed, "StartTimeout", "0/1 replicas ready", true},
		{"Aborted: aborted by request", v1.ConditionPromoted, "Aborted", "aborted by request", true},
		{"JobTimeout: Job did not finish", v1.ConditionVerified, "JobTimeout", "Job did not finish", true},
		{"key compromised", "", "", "", false},
		{"TestFailed", "", "", "", false},
		{"ReleaseRevoked: release v2 is revoked", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tt := range tests {
		cond, reason, msg, ok := ownAbort(tt.revoked)
		if ok != tt.ok || ok && (cond != tt.cond || reason != tt.reason || msg != tt.msg) {
			t.Errorf("ownAbort(%q) = %q, %q, %q, %v", tt.revoked, cond, reason, msg, ok)
		}
	}
}
