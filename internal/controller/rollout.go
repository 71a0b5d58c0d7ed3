package controller

import (
	"context"
	"errors"
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

// measure returns the revision's measurement: from its Secret, else from the
// finished build Job (then recorded in the Secret), else it starts the build.
func (x *run) measure(ctx context.Context, rs *v1.RevisionStatus) (*Measurement, bool, error) {
	a, name := x.app, rs.Name
	var sec corev1.Secret
	ok, err := x.get(ctx, secretName(a.Name, name), &sec)
	if err != nil {
		return nil, false, err
	}
	if ok {
		m, err := measurementFromSecret(&sec)
		if err != nil {
			return nil, false, x.fail(ctx, rs, v1.ConditionMeasured, "MeasurementInvalid", err.Error(), false)
		}
		x.recordMeasurement(rs, m)
		rs.Secret = sec.Name
		x.cond(v1.ConditionBuilt, metav1.ConditionTrue, "BuildSucceeded", "revision "+name+" built")
		x.cond(v1.ConditionMeasured, metav1.ConditionTrue, "Measured", "MRENCLAVE "+m.MREnclave+" in Secret "+sec.Name)
		return m, true, nil
	}
	var job batchv1.Job
	ok, err = x.get(ctx, buildJobName(a.Name, name), &job)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		if a.Spec.Build != nil {
			if pvc := artifactPVC(a, name); pvc != nil {
				if err := x.create(ctx, pvc, "create-pvc"); err != nil {
					return nil, false, err
				}
			}
		}
		if err := x.create(ctx, x.r.buildJob(a, name), "create-build-job"); err != nil {
			return nil, false, err
		}
		x.event(corev1.EventTypeNormal, "BuildStarted", "revision %s: build Job %s created", name, buildJobName(a.Name, name))
		rs.BuildJob = buildJobName(a.Name, name)
		x.phase(rs, v1.PhaseBuilding, "build Job started")
		x.cond(v1.ConditionBuilt, metav1.ConditionFalse, "Building", "build Job "+rs.BuildJob+" started")
		x.cond(v1.ConditionMeasured, metav1.ConditionFalse, "Building", "waiting for the build")
		x.after(buildTimeout(a))
		return nil, false, nil
	}
	rs.BuildJob = job.Name
	st, why := stateOf(&job)
	switch st {
	case jobRunning:
		if x.deadline(job.CreationTimestamp, buildTimeout(a)) {
			return nil, false, x.fail(ctx, rs, v1.ConditionBuilt, "BuildTimeout", fmt.Sprintf("build did not finish within %s", buildTimeout(a)), false)
		}
		x.phase(rs, v1.PhaseBuilding, "building")
		x.cond(v1.ConditionBuilt, metav1.ConditionFalse, "Building", "build Job "+job.Name+" running")
		return nil, false, nil
	case jobFailed:
		pod, err := x.jobPod(ctx, name, componentBuild)
		if err != nil {
			return nil, false, err
		}
		if m := failureMessage(pod); m != "" {
			why = m
		}
		return nil, false, x.fail(ctx, rs, v1.ConditionBuilt, "BuildFailed", "build Job "+job.Name+" failed: "+why, false)
	}
	pod, err := x.jobPod(ctx, name, componentBuild)
	if err != nil {
		return nil, false, err
	}
	var msg, imageID string
	if pod != nil {
		msg, _, _, _ = terminated(pod, "measure")
		builder := "build"
		if a.Spec.Build == nil {
			builder = "measure"
		}
		_, imageID, _, _ = terminated(pod, builder)
	}
	x.cond(v1.ConditionBuilt, metav1.ConditionTrue, "BuildSucceeded", "build Job "+job.Name+" succeeded")
	m, err := ParseMeasurement(msg)
	if errors.Is(err, ErrDebugEnclave) {
		rs.MREnclave = m.MREnclave
		return nil, false, x.fail(ctx, rs, v1.ConditionMeasured, "DebugEnclave", err.Error(), false)
	}
	if err != nil {
		if pod == nil {
			err = fmt.Errorf("%w: the build pod (holding the termination message) is gone", ErrMeasurementInvalid)
		}
		return nil, false, x.fail(ctx, rs, v1.ConditionMeasured, "MeasurementInvalid", err.Error(), false)
	}
	m.BuilderImageDigest = imageID
	m.SourceRef = sourceRef(a)
	sec = corev1.Secret{ObjectMeta: objMeta(a, secretName(a.Name, name), name, "measurement"),
		Immutable: boolPtr(true), StringData: m.secretData(name)}
	if err := x.create(ctx, &sec, "create-secret"); err != nil {
		return nil, false, err
	}
	x.recordMeasurement(rs, m)
	rs.Secret = sec.Name
	x.phase(rs, v1.PhaseMeasured, "MRENCLAVE "+m.MREnclave)
	x.event(corev1.EventTypeNormal, "Measured", "revision %s: MRENCLAVE %s recorded in Secret %s", name, m.MREnclave, sec.Name)
	x.cond(v1.ConditionMeasured, metav1.ConditionTrue, "Measured", "MRENCLAVE "+m.MREnclave+" in Secret "+sec.Name)
	return m, true, nil
}

func boolPtr(b bool) *bool { return &b }

func sourceRef(a *v1.EnclaveApp) string {
	switch {
	case a.Spec.Build == nil:
		return "image:" + a.Spec.Runtime.Image
	case a.Spec.Build.Source == nil:
		return "image:" + a.Spec.Build.Image
	case a.Spec.Build.Source.Git != nil:
		return a.Spec.Build.Source.Git.URL + "@" + a.Spec.Build.Source.Git.Ref
	default:
		return "configmap:" + a.Spec.Build.Source.ConfigMap
	}
}

func (x *run) recordMeasurement(rs *v1.RevisionStatus, m *Measurement) {
	rs.MREnclave, rs.MRSigner, rs.ArtifactSHA256 = m.MREnclave, m.MRSigner, m.ArtifactSHA256
	rs.BuilderImageDigest, rs.SourceRef = m.BuilderImageDigest, m.SourceRef
	if m.ISVProdID != nil {
		rs.ISVProdID = int32(*m.ISVProdID)
	}
	if m.ISVSVN != nil {
		rs.ISVSVN = int32(*m.ISVSVN)
	}
	if rs.Phase == v1.PhaseBuilding {
		x.phase(rs, v1.PhaseMeasured, "MRENCLAVE "+m.MREnclave)
	}
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

// fail aborts rs: revoked in attestd when revoke (a candidate that failed its
// start or test; not a release that was never this build's), its Deployment
// and Service removed, traffic unchanged. Jobs stay for their logs.
func (x *run) fail(ctx context.Context, rs *v1.RevisionStatus, condType, reason, msg string, revoke bool) error {
	if revoke || reason == "Aborted" {
		att, err := x.attestd(ctx)
		if err != nil {
			return err
		}
		v, err := att.get(ctx, x.appName, rs.Name)
		switch {
		case isAttestdNotFound(err):
		case err != nil:
			return err
		case v.State == release.Candidate:
			if _, err := att.revoke(ctx, x.appName, rs.Name, reason+": "+msg); err != nil {
				return err
			}
			if err := x.did("revoke"); err != nil {
				return err
			}
			x.event(corev1.EventTypeWarning, "Revoked", "revision %s revoked in attestd: %s", rs.Name, reason)
		}
	}
	if err := x.cleanup(ctx, rs.Name, false); err != nil {
		return err
	}
	x.phase(rs, v1.PhaseFailed, reason+": "+msg)
	x.cond(condType, metav1.ConditionFalse, reason, msg)
	if condType != v1.ConditionPromoted {
		x.cond(v1.ConditionPromoted, metav1.ConditionFalse, "Aborted", "revision "+rs.Name+" aborted: "+reason)
	}
	return nil
}

// cleanup removes rev's Deployment and Service, and when jobs (the revision
// is retired) its Jobs and artifact claim too.
func (x *run) cleanup(ctx context.Context, rev string, jobs bool) error {
	a := x.app
	if err := x.remove(ctx, &appsv1.Deployment{}, deploymentName(a.Name, rev)); err != nil {
		return err
	}
	if err := x.remove(ctx, &corev1.Service{}, serviceName(a.Name, rev)); err != nil {
		return err
	}
	if jobs {
		for _, n := range []string{buildJobName(a.Name, rev), testJobName(a.Name, rev)} {
			if err := x.remove(ctx, &batchv1.Job{}, n); err != nil {
				return err
			}
		}
		if err := x.remove(ctx, &corev1.PersistentVolumeClaim{}, pvcName(a.Name, rev)); err != nil {
			return err
		}
	}
	return nil
}

// leave handles a revision that is neither wanted nor active: the previous
// active one drains until attestd's drain deadline, then is retired; a
// candidate superseded by a newer spec.revision is retired at once.
func (x *run) leave(ctx context.Context, rs *v1.RevisionStatus) error {
	switch rs.Phase {
	case v1.PhaseFailed, v1.PhaseRetired:
		return nil
	case v1.PhaseActive, v1.PhaseDraining:
		att, err := x.attestd(ctx)
		if err != nil {
			return err
		}
		v, err := att.get(ctx, x.appName, rs.Name)
		switch {
		case isAttestdNotFound(err):
		case err != nil:
			return err
		case v.State == release.Draining && x.now.Before(v.DrainUntil):
			x.phase(rs, v1.PhaseDraining, "accepted by attestd until "+v.DrainUntil.UTC().Format("2006-01-02T15:04:05Z"))
			x.after(v.DrainUntil.Sub(x.now))
			return nil
		case v.State == release.Active:
			// Still active in attestd though the Service moved on: someone
			// else's change; leave it serving and say so.
			x.phase(rs, v1.PhaseDraining, "active in attestd but not behind Service "+x.app.Name)
			return nil
		case v.State != release.Retired && v.State != release.Revoked:
			if _, err := att.retire(ctx, x.appName, rs.Name); err != nil {
				return err
			}
			if err := x.did("retire"); err != nil {
				return err
			}
		}
		if err := x.cleanup(ctx, rs.Name, true); err != nil {
			return err
		}
		x.phase(rs, v1.PhaseRetired, "drained and retired")
		return nil
	default: // superseded before promotion
		if rs.MREnclave != "" {
			att, err := x.attestd(ctx)
			if err != nil {
				return err
			}
			v, err := att.get(ctx, x.appName, rs.Name)
			switch {
			case isAttestdNotFound(err):
			case err != nil:
				return err
			case v.State == release.Candidate:
				if _, err := att.retire(ctx, x.appName, rs.Name); err != nil {
					return err
				}
				if err := x.did("retire"); err != nil {
					return err
				}
			}
		}
		if err := x.cleanup(ctx, rs.Name, true); err != nil {
			return err
		}
		x.phase(rs, v1.PhaseRetired, "superseded by "+x.app.Spec.Revision+" before promotion")
		return nil
	}
}

// summarize fills the status summary fields and the Ready condition.
func (x *run) summarize() {
	a := x.app
	st := &a.Status
	st.ObservedGeneration = a.Generation
	st.App = x.appName
	if a.Spec.Runtime.Mode != v1.ModeJob {
		st.ActiveRevision = x.active
	}
	st.ActiveMREnclaveShort, st.CandidateRevision = "", ""
	for _, rs := range st.Revisions {
		if rs.Name == st.ActiveRevision {
			st.ActiveMREnclaveShort = short(rs.MREnclave)
		}
		if rs.Name == a.Spec.Revision && rs.Name != st.ActiveRevision &&
			rs.Phase != v1.PhaseFailed && rs.Phase != v1.PhaseRetired {
			st.CandidateRevision = rs.Name
		}
	}
	if a.Spec.Runtime.Mode == v1.ModeJob {
		return // Ready is set by the Job-mode step
	}
	if st.ActiveRevision == "" {
		x.cond(v1.ConditionReady, metav1.ConditionFalse, "NoActiveRevision", "no revision has been promoted yet")
	} else if !x.activeAvailable {
		x.cond(v1.ConditionReady, metav1.ConditionFalse, "Unavailable", "revision "+st.ActiveRevision+" has no available replica")
	} else {
		x.cond(v1.ConditionReady, metav1.ConditionTrue, "Serving", "revision "+st.ActiveRevision+" serves behind Service "+a.Name)
	}
}
