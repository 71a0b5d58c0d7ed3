package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/release"
)

// TestLeaderElection: two managers run at once; only the leader acts. When
// it stops, the other takes over and finishes the rollout.
func TestLeaderElection(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	var mu sync.Mutex
	acted := map[string]int{}
	hook := func(name string) func(types.NamespacedName, string) error {
		return func(types.NamespacedName, string) error {
			mu.Lock()
			acted[name]++
			mu.Unlock()
			return nil
		}
	}
	m1 := startManager(t, ns, nil, Options{AfterAction: hook("m1")})
	time.Sleep(500 * time.Millisecond) // m1 takes the lease first
	startManager(t, ns, nil, Options{AfterAction: hook("m2")})
	k.set(func(k *fakeKubelet) { k.hold["v1"] = true }) // stop half-way, at the test
	if err := env.Client.Create(context.Background(), newApp(ns, "le", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "le", "v1", v1.PhaseTesting, waitLong)
	mu.Lock()
	if acted["m1"] == 0 || acted["m2"] != 0 {
		t.Errorf("before the hand-over: m1 acted %d times, m2 %d (want only m1)", acted["m1"], acted["m2"])
	}
	mu.Unlock()
	if err := m1.stop(); err != nil {
		t.Fatal(err)
	}
	k.set(func(k *fakeKubelet) { k.hold["v1"] = false })
	a := waitPhase(t, ns, "le", "v1", v1.PhaseActive, waitLong)
	mu.Lock()
	defer mu.Unlock()
	if acted["m2"] == 0 {
		t.Errorf("m2 never acted after m1 stopped")
	}
	if condition(a, v1.ConditionReady).Status != metav1.ConditionTrue {
		t.Errorf("not ready: %s", summary(a))
	}
	if v := att.release(t, "le", "v1"); v.State != release.Active {
		t.Errorf("attestd: %s", v.State)
	}
}

// TestStartTimeout: a candidate whose pods never pass the attestation
// readiness probe is aborted when spec.rollout.timeouts.start passes (a
// timer, not a watch event, wakes the reconciler).
func TestStartTimeout(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	app := newApp(ns, "slow", "v1", att.URL)
	app.Spec.Rollout.Timeouts.Start = &metav1.Duration{Duration: 2 * time.Second}
	if err := env.Client.Create(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "slow", "v1", v1.PhaseActive, waitLong)
	k.set(func(k *fakeKubelet) { k.noDeploy = true }) // v2's pods never become ready
	setRevision(t, ns, "slow", "v2")
	a := waitPhase(t, ns, "slow", "v2", v1.PhaseFailed, waitLong)
	if c := condition(a, v1.ConditionDeployed); c.Reason != "StartTimeout" {
		t.Errorf("Deployed: %+v", c)
	}
	if v := att.release(t, "slow", "v2"); v.State != release.Revoked {
		t.Errorf("attestd v2: %s", v.State)
	}
	if a.Status.ActiveRevision != "v1" {
		t.Errorf("active: %s", summary(a))
	}
}
