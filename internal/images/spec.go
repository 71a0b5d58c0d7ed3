package images

// Binary is one Go main package put into an image.
type Binary struct {
	// Package is the main package, relative to the module root, e.g. "./cmd/attestd".
	Package string
	// Path is the file in the image, e.g. "/attestd".
	Path string
	// File is an already built static binary used as is instead of
	// building Package (e.g. CoreDNS, built by scripts/install-tools.sh).
	File string
}

// Spec is one image.
type Spec struct {
	// Name is the short name: the tarball is Name.tar; the reference is
	// Registry/Name:Version.
	Name string
	// Binaries are the files of its single layer; the first is the entrypoint.
	Binaries []Binary
}

// Registry is the host part of every image reference. It names no real
// registry: images reach a node by "ctr images import", never by a pull.
const Registry = "sgxops.local"

// User is the uid:gid every image runs as (no name: there is no /etc/passwd).
const User = "65532:65532"

// Specs are the sgxops images (docs/operations.md and the chart rely on the
// names and entrypoints).
var Specs = []Spec{
	{Name: "attestd", Binaries: []Binary{{Package: "./cmd/attestd", Path: "/attestd"}}},
	{Name: "operator", Binaries: []Binary{{Package: "./cmd/sgxops-operator", Path: "/sgxops-operator"}, {Package: "./cmd/sgxops", Path: "/sgxops"}}},
	{Name: "sgxops", Binaries: []Binary{{Package: "./cmd/sgxops", Path: "/sgxops"}}},
	{Name: "sample", Binaries: []Binary{{Package: "./cmd/sgxops-sample", Path: "/sgxops-sample"}}},
}

// Ref is the image reference of s at version, e.g. sgxops.local/attestd:0.1.0.
func (s Spec) Ref(version string) string { return Registry + "/" + s.Name + ":" + version }

// SystemSpecs are the images the real-cluster E2E needs besides the sgxops
// ones, because no registry is reachable to pull them: the pod sandbox
// ("pause", from test/e2e/pause) and the cluster DNS (CoreDNS, a binary built
// from the module proxy, given as corednsFile). scripts/k8s/cluster.sh
// imports them; tag them with SystemVersion.
func SystemSpecs(corednsFile string) []Spec {
	return []Spec{
		{Name: "pause", Binaries: []Binary{{Package: "./test/e2e/pause", Path: "/pause"}}},
		{Name: "coredns", Binaries: []Binary{{Path: "/coredns", File: corednsFile}}},
	}
}

// SystemVersion is the tag of the system images (sgxops.local/pause:e2e is
// containerd's sandbox_image in scripts/k8s/cluster.sh).
const SystemVersion = "e2e"
