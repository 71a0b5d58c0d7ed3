package images

// Binary is one Go main package put into an image.
type Binary struct {
	// Package is the main package, relative to the module root, e.g. "./cmd/attestd".
	Package string
	// Path is the file in the image, e.g. "/attestd".
	Path string
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
	{Name: "attestd", Binaries: []Binary{{"./cmd/attestd", "/attestd"}}},
	{Name: "operator", Binaries: []Binary{{"./cmd/sgxops-operator", "/sgxops-operator"}, {"./cmd/sgxops", "/sgxops"}}},
	{Name: "sgxops", Binaries: []Binary{{"./cmd/sgxops", "/sgxops"}}},
	{Name: "sample", Binaries: []Binary{{"./cmd/sgxops-sample", "/sgxops-sample"}}},
}

// Ref is the image reference of s at version, e.g. sgxops.local/attestd:0.1.0.
func (s Spec) Ref(version string) string { return Registry + "/" + s.Name + ":" + version }
