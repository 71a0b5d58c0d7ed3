package controller

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

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
