package controller

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// Fixed paths inside the pods the operator makes.
const (
	toolsDir     = "/sgxops-tools" // emptyDir with the injected sgxops CLI
	toolsBinary  = toolsDir + "/sgxops"
	artifactsDir = "/artifacts" // the per-revision artifact volume (build)
	sourceDir    = "/src"
	caDir        = "/sgxops-ca"
	caFile       = caDir + "/ca.crt"
	termLog      = "/dev/termination-log"
	envRevision  = "SGXOPS_REVISION"
)

// Component label values.
const (
	componentBuild   = "build"
	componentRuntime = "runtime"
	componentTest    = "test"
	componentRun     = "run"
)

// Names of the objects of one revision.
func buildJobName(app, rev string) string   { return app + "-" + rev + "-build" }
func secretName(app, rev string) string     { return app + "-" + rev + "-measurement" }
func pvcName(app, rev string) string        { return app + "-" + rev + "-artifacts" }
func deploymentName(app, rev string) string { return app + "-" + rev }
func serviceName(app, rev string) string    { return app + "-" + rev }
func testJobName(app, rev string) string    { return app + "-" + rev + "-test" }
func runJobName(app, rev string) string     { return app + "-" + rev + "-run" }

func podLabels(app *v1.EnclaveApp, rev, component string) map[string]string {
	l := map[string]string{v1.LabelApp: app.Name, v1.LabelManagedBy: v1.ManagedBy}
	if rev != "" {
		l[v1.LabelRevision] = rev
	}
	if component != "" {
		l[v1.LabelComponent] = component
	}
	return l
}

// runtimeSelector selects the runtime pods of rev, and only them: build,
// measure and test pods carry the app and revision labels too.
func runtimeSelector(a *v1.EnclaveApp, rev string) map[string]string {
	return map[string]string{v1.LabelApp: a.Name, v1.LabelRevision: rev, v1.LabelComponent: componentRuntime}
}

func objMeta(app *v1.EnclaveApp, name, rev, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: app.Namespace, Labels: podLabels(app, rev, component)}
}

func dur(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

// Defaults of the spec's optional durations.
const (
	DefaultBuildTimeout = 30 * time.Minute
	DefaultStartTimeout = 10 * time.Minute
	DefaultTestTimeout  = 5 * time.Minute
	DefaultDrainGrace   = 5 * time.Minute
)

func buildTimeout(a *v1.EnclaveApp) time.Duration {
	return dur(a.Spec.Rollout.Timeouts.Build, DefaultBuildTimeout)
}
func startTimeout(a *v1.EnclaveApp) time.Duration {
	return dur(a.Spec.Rollout.Timeouts.Start, DefaultStartTimeout)
}
func testTimeout(a *v1.EnclaveApp) time.Duration {
	return dur(a.Spec.Rollout.Timeouts.Test, DefaultTestTimeout)
}
func drainGrace(a *v1.EnclaveApp) time.Duration {
	if d := a.Spec.Rollout.DrainGrace; d != nil && d.Duration >= 0 {
		return d.Duration
	}
	return DefaultDrainGrace
}

// sgxPlacement is the node selector and resources an SGX container needs on
// the spec's platform.
func sgxPlacement(a *v1.EnclaveApp, sel map[string]string, res corev1.ResourceRequirements) (map[string]string, corev1.ResourceRequirements) {
	res = *res.DeepCopy()
	out := map[string]string{}
	for k, v := range sel {
		out[k] = v
	}
	epc := resource.MustParse("10Mi")
	if a.Spec.SGX.EPC != nil {
		epc = *a.Spec.SGX.EPC
	}
	add := func(name corev1.ResourceName, q resource.Quantity) {
		if res.Limits == nil {
			res.Limits = corev1.ResourceList{}
		}
		if res.Requests == nil {
			res.Requests = corev1.ResourceList{}
		}
		if _, ok := res.Limits[name]; !ok {
			res.Limits[name] = q
			res.Requests[name] = q
		}
	}
	switch a.Spec.SGX.Platform {
	case v1.PlatformAKS:
		// AKS counts EPC in MiB, as a plain integer.
		add(v1.EPCResourceAKS, *resource.NewQuantity((epc.Value()+(1<<20)-1)>>20, resource.DecimalSI))
	case v1.PlatformIntel:
		add(v1.EPCResourceIntel, epc)
		add("sgx.intel.com/enclave", resource.MustParse("1"))
		if _, ok := out["intel.feature.node.kubernetes.io/sgx"]; !ok {
			out["intel.feature.node.kubernetes.io/sgx"] = "true"
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, res
}

// sgxTolerations adds, on an SGX platform, the toleration of the taint that
// dedicated SGX pools carry (v1.TaintSGX: deploy/terraform/aks sets it), unless
// the user's tolerations already name that key.
func sgxTolerations(a *v1.EnclaveApp, user []corev1.Toleration) []corev1.Toleration {
	if a.Spec.SGX.Platform != v1.PlatformAKS && a.Spec.SGX.Platform != v1.PlatformIntel {
		return user
	}
	for _, t := range user {
		if t.Key == v1.TaintSGX {
			return user
		}
	}
	return append(append([]corev1.Toleration{}, user...),
		corev1.Toleration{Key: v1.TaintSGX, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
}

// toolsInit copies the sgxops CLI into the tools emptyDir (the sgxops image
// has no shell: `sgxops self-copy` does the copy).
func (r *Reconciler) toolsInit() corev1.Container {
	return corev1.Container{
		Name: "sgxops-tools", Image: r.opts.SgxopsImage,
		Command:                  []string{"/sgxops", "self-copy", toolsBinary},
		VolumeMounts:             []corev1.VolumeMount{{Name: "sgxops-tools", MountPath: toolsDir}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restricted(),
	}
}

func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](65532),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func revisionEnv(rev string, extra []corev1.EnvVar) []corev1.EnvVar {
	// SGXOPS_REVISION first, so that the user's env and args can use $(SGXOPS_REVISION).
	return append([]corev1.EnvVar{{Name: envRevision, Value: rev}}, extra...)
}

// keepsArtifact reports whether the artifact must outlive the build pod: the
// runtime mounts it, or an existing claim was named. Otherwise it is only
// measured, and an emptyDir in the build pod is enough (no claim, no storage
// provisioner needed).
func keepsArtifact(a *v1.EnclaveApp) bool {
	return a.Spec.Build != nil && (a.Spec.Runtime.ArtifactMountPath != "" || a.Spec.Build.Storage.ExistingClaim != "")
}

// artifactVolume is the per-revision artifact volume of a build.
func artifactVolume(a *v1.EnclaveApp, rev string, readOnly bool) (corev1.Volume, string) {
	st := a.Spec.Build.Storage
	if !keepsArtifact(a) {
		return emptyDir("artifacts"), ""
	}
	claim, sub := pvcName(a.Name, rev), ""
	if st.ExistingClaim != "" {
		claim, sub = st.ExistingClaim, rev
	}
	return corev1.Volume{Name: "artifacts", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly}}}, sub
}

// artifactPVC is the claim made for rev (nil with an existing claim, or when
// the artifact need not outlive the build).
func artifactPVC(a *v1.EnclaveApp, rev string) *corev1.PersistentVolumeClaim {
	st := a.Spec.Build.Storage
	if st.ExistingClaim != "" || !keepsArtifact(a) {
		return nil
	}
	size := resource.MustParse("1Gi")
	if st.Size != nil {
		size = *st.Size
	}
	mode := st.AccessMode
	if mode == "" {
		mode = corev1.ReadWriteOnce
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: objMeta(a, pvcName(a.Name, rev), rev, componentBuild),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
			StorageClassName: st.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}

func measureArgs(bin, artifact string) []string {
	return []string{bin, "measure", "--output", "json", "--termination-log", termLog, artifact}
}

// buildJob builds and measures rev. With spec.build: init containers fetch
// the source (git) and run the builder, which writes the artifact to the
// per-revision volume; the main container runs `sgxops measure` in the sgxops
// image on it. Without spec.build: the sgxops CLI is injected into the
// runtime image, which measures spec.runtime.artifactPath. Either way the
// result is the termination message: the pod needs no API rights.
func (r *Reconciler) buildJob(a *v1.EnclaveApp, rev string) *batchv1.Job {
	podMeta := objMeta(a, "", rev, componentBuild)
	spec := corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
	}
	if b := a.Spec.Build; b != nil {
		vol, sub := artifactVolume(a, rev, false)
		spec.Volumes = []corev1.Volume{vol}
		mounts := []corev1.VolumeMount{{Name: "artifacts", MountPath: artifactsDir, SubPath: sub}}
		env := revisionEnv(rev, append([]corev1.EnvVar{{Name: "SGXOPS_ARTIFACT", Value: b.ArtifactPath}}, b.Env...))
		if s := b.Source; s != nil {
			switch {
			case s.Git != nil:
				spec.Volumes = append(spec.Volumes, emptyDir("source"))
				spec.InitContainers = append(spec.InitContainers, corev1.Container{
					Name: "source", Image: s.Git.Image,
					Command:                  []string{"git", "clone", "--depth", "1", "--branch", s.Git.Ref, "--", s.Git.URL, sourceDir},
					VolumeMounts:             []corev1.VolumeMount{{Name: "source", MountPath: sourceDir}},
					TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				})
				env = append(env, corev1.EnvVar{Name: "SGXOPS_SOURCE_REF", Value: s.Git.URL + "@" + s.Git.Ref})
			case s.ConfigMap != "":
				spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "source", VolumeSource: corev1.VolumeSource{
					ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.ConfigMap}}}})
			}
			mounts = append(mounts, corev1.VolumeMount{Name: "source", MountPath: sourceDir})
		}
		for i, sm := range b.Secrets {
			vn := fmt.Sprintf("secret-%d", i)
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: vn, VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: sm.Name}}})
			mounts = append(mounts, corev1.VolumeMount{Name: vn, MountPath: sm.MountPath, ReadOnly: true})
		}
		sel, res := sgxPlacement(a, b.NodeSelector, b.Resources)
		spec.NodeSelector, spec.Tolerations = sel, sgxTolerations(a, b.Tolerations)
		spec.InitContainers = append(spec.InitContainers, corev1.Container{
			Name: "build", Image: b.Image, Command: b.Command, Args: b.Args, Env: env,
			Resources: res, VolumeMounts: mounts, WorkingDir: workDir(b),
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		})
		spec.Containers = []corev1.Container{{
			Name: "measure", Image: r.opts.SgxopsImage,
			Command:                  measureArgs("/sgxops", b.ArtifactPath),
			VolumeMounts:             []corev1.VolumeMount{{Name: "artifacts", MountPath: artifactsDir, SubPath: sub, ReadOnly: true}},
			TerminationMessagePath:   termLog,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			SecurityContext:          restricted(),
		}}
	} else {
		rt := a.Spec.Runtime
		spec.Volumes = []corev1.Volume{emptyDir("sgxops-tools")}
		spec.InitContainers = []corev1.Container{r.toolsInit()}
		spec.NodeSelector, spec.Tolerations = rt.NodeSelector, rt.Tolerations
		spec.Containers = []corev1.Container{{
			Name: "measure", Image: rt.Image, Command: measureArgs(toolsBinary, rt.ArtifactPath),
			Env:                      revisionEnv(rev, nil),
			VolumeMounts:             []corev1.VolumeMount{{Name: "sgxops-tools", MountPath: toolsDir, ReadOnly: true}},
			TerminationMessagePath:   termLog,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}}
	}
	return &batchv1.Job{
		ObjectMeta: objMeta(a, buildJobName(a.Name, rev), rev, componentBuild),
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0), // a failed build is a result, not a flake
			ActiveDeadlineSeconds: ptr.To(int64(buildTimeout(a).Seconds())),
			Template:              corev1.PodTemplateSpec{ObjectMeta: podMeta, Spec: spec},
		},
	}
}

func workDir(b *v1.BuildSpec) string {
	if b.Source != nil {
		return sourceDir
	}
	return ""
}

// probeArgs is the attestation probe of rev through serviceURL.
// states, when set, replaces the probe's default accepted release states
// (candidate,active).
func probeArgs(a *v1.EnclaveApp, bin, appName, rev, serviceURL string, timeout time.Duration, states string) []string {
	args := []string{bin, "probe", "--service", serviceURL, "--attestd", a.Spec.Attestd.URL,
		"--app", appName, "--release", rev}
	if states != "" {
		args = append(args, "--state", states)
	}
	if a.Spec.Attestd.AllowSimulated {
		args = append(args, "--allow-simulated")
	}
	if a.Spec.Attestd.CABundle != nil {
		args = append(args, "--attestd-ca", caFile)
	}
	return append(args, "--timeout", timeout.String())
}

func caVolume(a *v1.EnclaveApp) (corev1.Volume, corev1.VolumeMount, bool) {
	ca := a.Spec.Attestd.CABundle
	if ca == nil {
		return corev1.Volume{}, corev1.VolumeMount{}, false
	}
	key := ca.Key
	if key == "" {
		key = "ca.crt"
	}
	return corev1.Volume{Name: "sgxops-ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ca.Name},
			Items:                []corev1.KeyToPath{{Key: key, Path: "ca.crt"}}}}},
		corev1.VolumeMount{Name: "sgxops-ca", MountPath: caDir, ReadOnly: true}, true
}

// runtimePod is the pod of rev: the user's container, with the sgxops CLI
// injected for the readiness probe, the simulated platform, AESM socket and
// artifact mounted as the spec asks.
func (r *Reconciler) runtimePod(a *v1.EnclaveApp, appName, rev, component string) corev1.PodTemplateSpec {
	rt := a.Spec.Runtime
	sel, res := sgxPlacement(a, rt.NodeSelector, rt.Resources)
	c := corev1.Container{
		Name: "enclave", Image: rt.Image, Command: rt.Command, Args: rt.Args,
		Env: revisionEnv(rev, rt.Env), Resources: res,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	spec := corev1.PodSpec{NodeSelector: sel, Tolerations: sgxTolerations(a, rt.Tolerations), ServiceAccountName: rt.ServiceAccountName,
		AutomountServiceAccountToken: ptr.To(false), EnableServiceLinks: ptr.To(false)}
	if s := a.Spec.Simulation; s != nil {
		mp := s.MountPath
		if mp == "" {
			mp = "/sgxops-sim"
		}
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "sgxops-sim", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: s.PlatformSecret}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "sgxops-sim", MountPath: mp, ReadOnly: true})
	}
	if s := rt.AESM; s != nil {
		hp := s.HostPath
		if hp == "" {
			hp = "/var/run/aesmd"
		}
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "aesmd", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: hp, Type: ptr.To(corev1.HostPathDirectory)}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "aesmd", MountPath: hp})
		c.Env = append(c.Env, corev1.EnvVar{Name: "SGX_AESM_ADDR", Value: "1"})
	}
	if rt.ArtifactMountPath != "" && a.Spec.Build != nil {
		vol, sub := artifactVolume(a, rev, true)
		spec.Volumes = append(spec.Volumes, vol)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vol.Name, MountPath: rt.ArtifactMountPath, SubPath: sub, ReadOnly: true})
	}
	if component == componentRuntime {
		port := rt.Port
		if port == 0 {
			port = 8080
		}
		spec.Volumes = append(spec.Volumes, emptyDir("sgxops-tools"))
		spec.InitContainers = []corev1.Container{r.toolsInit()}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "sgxops-tools", MountPath: toolsDir, ReadOnly: true})
		if v, m, ok := caVolume(a); ok {
			spec.Volumes = append(spec.Volumes, v)
			c.VolumeMounts = append(c.VolumeMounts, m)
		}
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: port}}
		// Ready means "attests as this release", not "accepts TCP". A
		// draining revision stays ready for its established sessions.
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
				Command: probeArgs(a, toolsBinary, appName, rev, "http://127.0.0.1:"+strconv.Itoa(int(port)), 8*time.Second,
					"candidate,active,draining")}},
			InitialDelaySeconds: 1, PeriodSeconds: 15, TimeoutSeconds: 10, FailureThreshold: 2,
		}
	} else {
		spec.RestartPolicy = corev1.RestartPolicyNever
	}
	spec.Containers = []corev1.Container{c}
	return corev1.PodTemplateSpec{ObjectMeta: objMeta(a, "", rev, component), Spec: spec}
}

func (r *Reconciler) deployment(a *v1.EnclaveApp, appName, rev string) *appsv1.Deployment {
	replicas := a.Spec.Runtime.Replicas
	if replicas == 0 {
		replicas = 1
	}
	return &appsv1.Deployment{
		ObjectMeta: objMeta(a, deploymentName(a.Name, rev), rev, componentRuntime),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: runtimeSelector(a, rev)},
			Template: r.runtimePod(a, appName, rev, componentRuntime),
		},
	}
}

// service selects rev's pods; name is the per-revision or the stable name.
func service(a *v1.EnclaveApp, name, rev string) *corev1.Service {
	port := a.Spec.Runtime.Port
	if port == 0 {
		port = 8080
	}
	component := componentRuntime
	labelRev := rev
	if name == a.Name {
		labelRev = "" // the stable Service belongs to no revision
		component = "stable"
	}
	svc := &corev1.Service{
		ObjectMeta: objMeta(a, name, labelRev, component),
		Spec: corev1.ServiceSpec{
			Selector: runtimeSelector(a, rev),
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
	if labelRev != "" {
		// Per-revision Services are headless: the test Job and people reach
		// the revision's ready pods by DNS, and 200 apps do not take 400
		// virtual IPs from the cluster's service range.
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return svc
}

// serviceURL is rev's per-revision Service as the test Job reaches it.
func serviceURL(a *v1.EnclaveApp, rev string) string {
	port := a.Spec.Runtime.Port
	if port == 0 {
		port = 8080
	}
	return fmt.Sprintf("http://%s.%s.svc:%d", serviceName(a.Name, rev), a.Namespace, port)
}

// testJob attests rev through its Service, naming the candidate release:
// `sgxops probe` (or the custom test of spec.rollout.test).
func (r *Reconciler) testJob(a *v1.EnclaveApp, appName, rev string) *batchv1.Job {
	c := corev1.Container{
		Name: "test", Image: r.opts.SgxopsImage,
		Command:                  probeArgs(a, "/sgxops", appName, rev, serviceURL(a, rev), 30*time.Second, ""),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restricted(),
	}
	if t := a.Spec.Rollout.Test; t != nil {
		c = corev1.Container{Name: "test", Image: t.Image, Command: t.Command, Args: t.Args,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			Env: revisionEnv(rev, []corev1.EnvVar{
				{Name: "SGXOPS_ATTESTD_URL", Value: a.Spec.Attestd.URL},
				{Name: "SGXOPS_APP", Value: appName},
				{Name: "SGXOPS_RELEASE", Value: rev},
				{Name: "SGXOPS_SERVICE_URL", Value: serviceURL(a, rev)},
				{Name: "SGXOPS_ALLOW_SIMULATED", Value: strconv.FormatBool(a.Spec.Attestd.AllowSimulated)},
			})}
	}
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false)}
	if v, m, ok := caVolume(a); ok {
		spec.Volumes = []corev1.Volume{v}
		c.VolumeMounts = []corev1.VolumeMount{m}
		if a.Spec.Rollout.Test != nil {
			c.Env = append(c.Env, corev1.EnvVar{Name: "SGXOPS_ATTESTD_CA", Value: caFile})
		}
	}
	spec.Containers = []corev1.Container{c}
	return &batchv1.Job{
		ObjectMeta: objMeta(a, testJobName(a.Name, rev), rev, componentTest),
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](2), // the network may blink; three attempts
			ActiveDeadlineSeconds: ptr.To(int64(testTimeout(a).Seconds())),
			Template:              corev1.PodTemplateSpec{ObjectMeta: objMeta(a, "", rev, componentTest), Spec: spec},
		},
	}
}

// runJob runs rev once (Job mode).
func (r *Reconciler) runJob(a *v1.EnclaveApp, appName, rev string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: objMeta(a, runJobName(a.Name, rev), rev, componentRun),
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(int64(startTimeout(a).Seconds())),
			Template:              r.runtimePod(a, appName, rev, componentRun),
		},
	}
}
