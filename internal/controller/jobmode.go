package controller

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/release"
)

// reconcileJobMode runs each revision once as a Job (spec.runtime.mode Job,
// e.g. oe-helloworld): build, measure, register, run. A completed run
// activates the release in attestd and retires the previous one (a one-shot
// job has no traffic to drain); a failed run revokes it. Its completion and
// log tail go to status; there is no Service and no test.
func (x *run) reconcileJobMode(ctx context.Context) error {
	a, name := x.app, x.app.Spec.Revision
	rs := x.rev(name)
	for _, o := range a.Status.Revisions {
		if o.Phase == v1.PhaseActive && o.Name != name {
			x.active = o.Name
		}
	}
	if rs.Phase == v1.PhaseFailed || rs.Phase == v1.PhaseRetired {
		return nil
	}
	if rs.Phase == v1.PhaseActive {
		x.active = name
		return nil
	}
	if a.Annotations[v1.AnnotationAbort] == name {
		return x.fail(ctx, rs, v1.ConditionPromoted, "Aborted", "aborted by request (annotation "+v1.AnnotationAbort+")", true)
	}
	m, ok, err := x.measure(ctx, rs)
	if err != nil || !ok {
		return err
	}
	if ok, err = x.register(ctx, rs, m); err != nil || !ok {
		return err
	}
	var job batchv1.Job
	ok, err = x.get(ctx, runJobName(a.Name, name), &job)
	if err != nil {
		return err
	}
	if !ok {
		j := x.r.runJob(a, x.appName, name)
		if err := x.create(ctx, j, "create-run-job"); err != nil {
			return err
		}
		x.event(corev1.EventTypeNormal, "Running", "revision %s: Job %s created", name, j.Name)
		job = *j
		job.CreationTimestamp = metav1.NewTime(x.now)
	}
	rs.RunJob = job.Name
	x.cond(v1.ConditionDeployed, metav1.ConditionTrue, "JobCreated", "Job "+job.Name+" created")
	st, why := stateOf(&job)
	if st == jobRunning {
		x.phase(rs, v1.PhaseCandidate, "Job "+job.Name+" running")
		if x.deadline(job.CreationTimestamp, startTimeout(a)) {
			x.cond(v1.ConditionReady, metav1.ConditionFalse, "JobFailed", "timed out")
			return x.fail(ctx, rs, v1.ConditionVerified, "JobTimeout", fmt.Sprintf("Job did not finish within %s", startTimeout(a)), true)
		}
		return nil
	}
	pod, err := x.jobPod(ctx, name, componentRun)
	if err != nil {
		return err
	}
	rs.Logs = x.logs(ctx, pod)
	if st == jobFailed {
		if m := failureMessage(pod); m != "" {
			why = m
		}
		x.cond(v1.ConditionReady, metav1.ConditionFalse, "JobFailed", "Job "+job.Name+" failed: "+why)
		return x.fail(ctx, rs, v1.ConditionVerified, "JobFailed", "Job "+job.Name+" failed: "+why, true)
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
		if _, err := att.activate(ctx, x.appName, name, 0); err != nil {
			return err
		}
		if err := x.did("activate"); err != nil {
			return err
		}
	}
	for i := range a.Status.Revisions {
		o := &a.Status.Revisions[i]
		if o.Name == name || o.Phase != v1.PhaseActive && o.Phase != v1.PhaseDraining {
			continue
		}
		if ov, err := att.get(ctx, x.appName, o.Name); err == nil && ov.State != release.Retired && ov.State != release.Revoked {
			if _, err := att.retire(ctx, x.appName, o.Name); err != nil {
				return err
			}
			if err := x.did("retire"); err != nil {
				return err
			}
		}
		x.phase(o, v1.PhaseRetired, "superseded by "+name)
	}
	x.active = name
	a.Status.ActiveRevision = name
	x.phase(rs, v1.PhaseActive, "Job "+job.Name+" completed")
	x.cond(v1.ConditionVerified, metav1.ConditionTrue, "JobCompleted", "Job "+job.Name+" completed")
	x.cond(v1.ConditionPromoted, metav1.ConditionTrue, "Promoted", "release "+name+" active in attestd")
	x.cond(v1.ConditionReady, metav1.ConditionTrue, "JobCompleted", "Job "+job.Name+" completed")
	return nil
}

// logs is the tail of the run container's log, or its termination message
// when logs cannot be read.
func (x *run) logs(ctx context.Context, pod *corev1.Pod) string {
	if pod == nil {
		return ""
	}
	if f := x.r.opts.Logs; f != nil {
		if s, err := f(ctx, pod.Namespace, pod.Name, "enclave"); err == nil {
			return tail(s, 2048)
		}
	}
	msg, _, _, _ := terminated(pod, "enclave")
	return tail(msg, 2048)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
