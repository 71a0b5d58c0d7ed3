package controller

import (
	"context"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/release"
)

// abortConditions maps the reason of each abort that revokes the candidate
// (fail with revoke, or "Aborted") to the condition it is reported on. The
// revocation in attestd carries "reason: message", so a reconcile that finds
// its own revocation (the status write after it was lost: a crash or a
// conflict) finishes the same abort instead of reporting a foreign one.
var abortConditions = map[string]string{
	"TestFailed": v1.ConditionVerified, "TestTimeout": v1.ConditionVerified,
	"JobFailed": v1.ConditionVerified, "JobTimeout": v1.ConditionVerified,
	"StartTimeout": v1.ConditionDeployed, "Aborted": v1.ConditionPromoted,
}

// ownAbort returns the condition, reason and message of an abort this
// operator recorded as the revocation reason, or ok false.
func ownAbort(revokedReason string) (condType, reason, msg string, ok bool) {
	reason, msg, found := strings.Cut(revokedReason, ": ")
	condType, known := abortConditions[reason]
	return condType, reason, msg, found && known
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
