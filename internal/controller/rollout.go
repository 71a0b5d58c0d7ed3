package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/release"
)

// reconcile is the rollout state machine (docs/operations.md draws it):
//
//	Building -> Measured -> Candidate -> Testing -> Active -> Draining -> Retired
//	any step before Active -> Failed (candidate revoked, traffic unchanged)
//
// The active revision is what the stable Service selects; everything else is
// read from the cluster and attestd each time.
func (x *run) reconcile(ctx context.Context) error {
	a := x.app
	if a.Spec.Runtime.Mode == v1.ModeJob {
		return x.reconcileJobMode(ctx)
	}
	var stable corev1.Service
	ok, err := x.get(ctx, a.Name, &stable)
	if err != nil {
		return err
	}
	if ok {
		x.active = stable.Spec.Selector[v1.LabelRevision]
	}
	if err := x.adopt(ctx); err != nil {
		return err
	}
	want := a.Spec.Revision
	if want == x.active {
		err = x.steady(ctx, want)
	} else {
		err = x.rollout(ctx, want)
	}
	if err != nil {
		return err
	}
	for i := range a.Status.Revisions {
		rs := &a.Status.Revisions[i]
		if rs.Name == want || rs.Name == x.active {
			continue
		}
		if err := x.leave(ctx, rs); err != nil {
			return err
		}
	}
	if x.active != "" {
		var dep appsv1.Deployment
		ok, err := x.get(ctx, deploymentName(a.Name, x.active), &dep)
		if err != nil {
			return err
		}
		x.activeAvailable = ok && dep.Status.AvailableReplicas > 0
	}
	return nil
}

// adopt adds revisions whose Deployment exists but which status does not
// know (status lost): they are then drained or cleaned up like any other.
func (x *run) adopt(ctx context.Context) error {
	var deps appsv1.DeploymentList
	if err := x.r.client.List(ctx, &deps, client.InNamespace(x.app.Namespace),
		client.MatchingLabels{v1.LabelApp: x.app.Name, v1.LabelManagedBy: v1.ManagedBy}); err != nil {
		return err
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		rev := d.Labels[v1.LabelRevision]
		if rev == "" || !metav1.IsControlledBy(d, x.app) {
			continue
		}
		known := false
		for _, rs := range x.app.Status.Revisions {
			known = known || rs.Name == rev
		}
		if !known {
			rs := x.rev(rev)
			if rev == x.active {
				rs.Phase = v1.PhaseActive
			} else if rev != x.app.Spec.Revision {
				rs.Phase = v1.PhaseDraining
			}
		}
	}
	return nil
}

// steady keeps the active revision serving.
func (x *run) steady(ctx context.Context, name string) error {
	rs := x.rev(name)
	if rs.MREnclave == "" {
		if _, ok, err := x.measure(ctx, rs); err != nil || !ok {
			return err
		}
	}
	var dep appsv1.Deployment
	ok, err := x.get(ctx, deploymentName(x.app.Name, name), &dep)
	if err != nil {
		return err
	}
	if !ok {
		// Deleted by someone: the revision passed its test, so re-create it.
		if err := x.create(ctx, x.r.deployment(x.app, x.appName, name), "create-deployment"); err != nil {
			return err
		}
	} else if want := replicas(x.app); dep.Spec.Replicas == nil || *dep.Spec.Replicas != want {
		patch := client.MergeFrom(dep.DeepCopy())
		dep.Spec.Replicas = &want
		if err := x.r.client.Patch(ctx, &dep, patch); err != nil {
			return err
		}
	}
	rs.Deployment, rs.Service = deploymentName(x.app.Name, name), serviceName(x.app.Name, name)
	x.phase(rs, v1.PhaseActive, "serving behind Service "+x.app.Name)
	for _, c := range []string{v1.ConditionBuilt, v1.ConditionMeasured, v1.ConditionRegistered, v1.ConditionDeployed, v1.ConditionVerified} {
		x.cond(c, metav1.ConditionTrue, "Active", "revision "+name+" is active")
	}
	x.cond(v1.ConditionPromoted, metav1.ConditionTrue, "Promoted", "revision "+name+" is active in attestd and behind Service "+x.app.Name)
	return nil
}

func replicas(a *v1.EnclaveApp) int32 {
	if a.Spec.Runtime.Replicas == 0 {
		return 1
	}
	return a.Spec.Runtime.Replicas
}

// rollout moves the candidate spec.revision one step.
func (x *run) rollout(ctx context.Context, name string) error {
	rs := x.rev(name)
	if rs.Phase == v1.PhaseFailed || rs.Phase == v1.PhaseRetired {
		x.cond(v1.ConditionPromoted, metav1.ConditionFalse, "Aborted", "revision "+name+": "+rs.Message)
		return nil
	}
	if x.app.Annotations[v1.AnnotationAbort] == name {
		return x.fail(ctx, rs, v1.ConditionPromoted, "Aborted", "aborted by request (annotation "+v1.AnnotationAbort+")", true)
	}
	m, ok, err := x.measure(ctx, rs)
	if err != nil || !ok {
		return err
	}
	if ok, err = x.register(ctx, rs, m); err != nil || !ok {
		return err
	}
	if ok, err = x.deploy(ctx, rs); err != nil || !ok {
		return err
	}
	if ok, err = x.test(ctx, rs); err != nil || !ok {
		return err
	}
	return x.promote(ctx, rs)
}

// register makes sure attestd holds the revision with this MRENCLAVE: it
// registers it when absent, accepts it when equal, and refuses a different
// MRENCLAVE under the same name (never an overwrite).
func (x *run) register(ctx context.Context, rs *v1.RevisionStatus, m *Measurement) (bool, error) {
	att, err := x.attestd(ctx)
	if err != nil {
		x.cond(v1.ConditionRegistered, metav1.ConditionFalse, "AttestdError", err.Error())
		return false, err
	}
	v, err := att.get(ctx, x.appName, rs.Name)
	if isAttestdNotFound(err) {
		v, err = att.register(ctx, x.appName, rs.Name, m.MREnclave)
		if ae, ok := permanent(err); ok {
			return false, x.fail(ctx, rs, v1.ConditionRegistered, "RegistrationRefused", ae.Message, false)
		}
		if err != nil {
			x.cond(v1.ConditionRegistered, metav1.ConditionFalse, "AttestdError", err.Error())
			return false, err
		}
		if err := x.did("register"); err != nil {
			return false, err
		}
		x.event(corev1.EventTypeNormal, "Registered", "revision %s registered in attestd as candidate %s/%s", rs.Name, x.appName, rs.Name)
	} else if err != nil {
		x.cond(v1.ConditionRegistered, metav1.ConditionFalse, "AttestdError", err.Error())
		return false, err
	}
	if v.MREnclave != m.MREnclave {
		return false, x.fail(ctx, rs, v1.ConditionRegistered, "MeasurementConflict", fmt.Sprintf(
			"attestd already holds %s/%s with MRENCLAVE %s, but this build measured %s: refusing to overwrite; use a new spec.revision",
			x.appName, rs.Name, v.MREnclave, m.MREnclave), false)
	}
	switch v.State {
	case release.Revoked:
		if condType, reason, msg, ok := ownAbort(v.RevokedReason); ok {
			// This operator's own abort, whose status write was lost.
			return false, x.fail(ctx, rs, condType, reason, msg, true)
		}
		return false, x.fail(ctx, rs, v1.ConditionRegistered, "ReleaseRevoked", "release "+rs.Name+" is revoked in attestd: "+v.RevokedReason, false)
	case release.Retired:
		return false, x.fail(ctx, rs, v1.ConditionRegistered, "ReleaseRetired", "release "+rs.Name+" is retired in attestd; use a new spec.revision", false)
	}
	x.cond(v1.ConditionRegistered, metav1.ConditionTrue, "Registered", fmt.Sprintf("%s/%s is %s in attestd", x.appName, rs.Name, v.State))
	return true, nil
}

// deploy runs green beside blue and waits for all its replicas to be ready
// (their readiness probe is the attestation probe).
func (x *run) deploy(ctx context.Context, rs *v1.RevisionStatus) (bool, error) {
	a, name := x.app, rs.Name
	var dep appsv1.Deployment
	ok, err := x.get(ctx, deploymentName(a.Name, name), &dep)
	if err != nil {
		return false, err
	}
	if !ok {
		d := x.r.deployment(a, x.appName, name)
		if err := x.create(ctx, d, "create-deployment"); err != nil {
			return false, err
		}
		x.event(corev1.EventTypeNormal, "Deploying", "revision %s: Deployment %s created", name, d.Name)
		dep = *d
		dep.CreationTimestamp = metav1.NewTime(x.now)
	}
	var svc corev1.Service
	if ok, err = x.get(ctx, serviceName(a.Name, name), &svc); err != nil {
		return false, err
	}
	if !ok {
		if err := x.create(ctx, service(a, serviceName(a.Name, name), name), "create-service"); err != nil {
			return false, err
		}
	}
	rs.Deployment, rs.Service = dep.Name, serviceName(a.Name, name)
	want := replicas(a)
	if dep.Status.ObservedGeneration >= dep.Generation && dep.Generation > 0 && dep.Status.AvailableReplicas >= want {
		x.cond(v1.ConditionDeployed, metav1.ConditionTrue, "Deployed", fmt.Sprintf("%d/%d replicas pass the attestation probe", dep.Status.AvailableReplicas, want))
		return true, nil
	}
	if x.deadline(dep.CreationTimestamp, startTimeout(a)) {
		return false, x.fail(ctx, rs, v1.ConditionDeployed, "StartTimeout", fmt.Sprintf("%d/%d replicas ready (attestation probe) after %s", dep.Status.AvailableReplicas, want, startTimeout(a)), true)
	}
	x.phase(rs, v1.PhaseCandidate, "deployed; waiting for replicas to pass the attestation probe")
	x.cond(v1.ConditionDeployed, metav1.ConditionFalse, "Deploying", fmt.Sprintf("%d/%d replicas ready", dep.Status.AvailableReplicas, want))
	x.cond(v1.ConditionVerified, metav1.ConditionFalse, "Deploying", "waiting for the candidate to start")
	return false, nil
}

// test attests the candidate in the cluster through its Service.
func (x *run) test(ctx context.Context, rs *v1.RevisionStatus) (bool, error) {
	a, name := x.app, rs.Name
	var job batchv1.Job
	ok, err := x.get(ctx, testJobName(a.Name, name), &job)
	if err != nil {
		return false, err
	}
	if !ok {
		j := x.r.testJob(a, x.appName, name)
		if err := x.create(ctx, j, "create-test-job"); err != nil {
			return false, err
		}
		x.event(corev1.EventTypeNormal, "Testing", "revision %s: test Job %s attests it through Service %s", name, j.Name, rs.Service)
		job = *j
		job.CreationTimestamp = metav1.NewTime(x.now)
	}
	rs.TestJob = job.Name
	st, why := stateOf(&job)
	switch st {
	case jobFailed:
		pod, err := x.jobPod(ctx, name, componentTest)
		if err != nil {
			return false, err
		}
		if m := failureMessage(pod); m != "" {
			why = m
		}
		return false, x.fail(ctx, rs, v1.ConditionVerified, "TestFailed", "test Job "+job.Name+" failed: "+why, true)
	case jobRunning:
		if x.deadline(job.CreationTimestamp, testTimeout(a)) {
			return false, x.fail(ctx, rs, v1.ConditionVerified, "TestTimeout", fmt.Sprintf("test did not finish within %s", testTimeout(a)), true)
		}
		x.phase(rs, v1.PhaseTesting, "test Job "+job.Name+" running")
		x.cond(v1.ConditionVerified, metav1.ConditionFalse, "Testing", "test Job "+job.Name+" running")
		x.cond(v1.ConditionPromoted, metav1.ConditionFalse, "Testing", "waiting for the test")
		return false, nil
	}
	x.cond(v1.ConditionVerified, metav1.ConditionTrue, "TestPassed", "test Job "+job.Name+" attested the candidate")
	return true, nil
}

func autoPromote(a *v1.EnclaveApp) bool {
	return a.Spec.Rollout.AutoPromote == nil || *a.Spec.Rollout.AutoPromote
}

// promote activates the verified candidate in attestd (the old release
// drains), then switches the stable Service to it. Only a revision whose test
// Job succeeded reaches here, so the Service never selects an untested one.
func (x *run) promote(ctx context.Context, rs *v1.RevisionStatus) error {
	a, name := x.app, rs.Name
	if !autoPromote(a) && a.Annotations[v1.AnnotationPromote] != name {
		x.phase(rs, v1.PhaseTesting, "verified; awaiting `sgxops rollout promote "+a.Name+"`")
		x.cond(v1.ConditionPromoted, metav1.ConditionFalse, "AwaitingPromotion", "revision "+name+" verified; run `sgxops rollout promote "+a.Name+"`")
		return nil
	}
	att, err := x.attestd(ctx)
	if err != nil {
		return err
	}
	v, err := att.get(ctx, x.appName, name)
	if err != nil {
		return err
	}
	if v.State != release.Active {
		if _, err := att.activate(ctx, x.appName, name, drainGrace(a)); err != nil {
			return err
		}
		if err := x.did("activate"); err != nil {
			return err
		}
	}
	var stable corev1.Service
	ok, err := x.get(ctx, a.Name, &stable)
	if err != nil {
		return err
	}
	if !ok {
		if err := x.create(ctx, service(a, a.Name, name), "create-stable-service"); err != nil {
			return err
		}
	} else if stable.Spec.Selector[v1.LabelRevision] != name {
		patch := client.MergeFrom(stable.DeepCopy())
		stable.Spec.Selector = runtimeSelector(a, name)
		if err := x.r.client.Patch(ctx, &stable, patch); err != nil {
			return err
		}
		if err := x.did("switch-service"); err != nil {
			return err
		}
	}
	old := x.active
	x.active = name
	x.event(corev1.EventTypeNormal, "Promoted", "revision %s is active in attestd and behind Service %s (was %q)", name, a.Name, old)
	if old != "" {
		ors := x.rev(old)
		x.phase(ors, v1.PhaseDraining, fmt.Sprintf("draining for %s after %s was promoted", drainGrace(a), name))
	}
	return x.steady(ctx, name)
}
