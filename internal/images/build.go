package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options configures Build. Root, OutDir, Version and Epoch are required.
type Options struct {
	// Root is the module root (the directory holding go.mod).
	Root string
	// OutDir receives NAME.tar for every image.
	OutDir string
	// Version is the image tag, e.g. "0.1.0".
	Version string
	// Epoch is the one timestamp of the image: file times, creation time,
	// history. Required (the commit time or SOURCE_DATE_EPOCH).
	Epoch time.Time
	// Revision is the VCS revision, the org.opencontainers.image.revision label.
	Revision string
	// Source is the org.opencontainers.image.source label. Empty: the module path.
	Source string
	// Arch is GOARCH and the image architecture. Empty: runtime.GOARCH.
	Arch string
	// Specs are the images to build. Nil: Specs (the sgxops images).
	Specs []Spec
	// Only limits the build to these image names. Empty: all of the specs.
	Only []string
	// Go is the go command. Empty: "go".
	Go string
	// Env is the environment of "go build" (GOFLAGS, GOCACHE, ... of the
	// caller); CGO_ENABLED, GOOS and GOARCH are set over it. Nil: none but those.
	Env []string
	// Log receives one line per step. Nil: discarded.
	Log io.Writer
}

// Result is one written image.
type Result struct {
	Name   string
	Ref    string
	File   string
	Digest v1.Hash // the image (manifest) digest
}

// ErrMissingMain is returned (wrapped in a *MissingError) when an image's
// main package does not exist yet.
var ErrMissingMain = errors.New("images: main package missing")

// MissingError lists the images not built because a main package is missing.
type MissingError struct {
	Images   []string
	Packages []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("images: no main package %s: image(s) %s not built (the other images were written)",
		strings.Join(e.Packages, ", "), strings.Join(e.Images, ", "))
}

// Unwrap makes errors.Is(err, ErrMissingMain) true.
func (e *MissingError) Unwrap() error { return ErrMissingMain }

// Build builds the images and writes their tarballs. Images whose main
// package is missing are skipped and reported by a *MissingError after the
// others are written.
func Build(ctx context.Context, o Options) ([]Result, error) {
	if o.Root == "" || o.OutDir == "" || o.Version == "" || o.Epoch.IsZero() {
		return nil, errors.New("images: Root, OutDir, Version and Epoch are required")
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Source == "" {
		o.Source = "https://github.com/sgxops/sgxops"
	}
	all := o.Specs
	if all == nil {
		all = Specs
	}
	specs, err := selectSpecs(all, o.Only)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	work, err := os.MkdirTemp("", "sgxops-images-")
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	defer os.RemoveAll(work)

	var results []Result
	var failed []error
	missing := &MissingError{}
	built := map[string]string{} // package -> binary file, built once
	for _, s := range specs {
		var absent []string
		for _, b := range s.Binaries {
			if b.File != "" {
				if _, err := os.Stat(b.File); err != nil {
					return nil, fmt.Errorf("images: %s: binary %s: %w", s.Name, b.File, err)
				}
				continue
			}
			if !isMainPackage(filepath.Join(o.Root, b.Package)) {
				absent = append(absent, b.Package)
			}
		}
		if len(absent) > 0 {
			missing.Images = append(missing.Images, s.Name)
			missing.Packages = append(missing.Packages, absent...)
			fmt.Fprintf(o.Log, "images: SKIP %s: no main package %s\n", s.Ref(o.Version), strings.Join(absent, ", "))
			continue
		}
		r, err := buildOne(ctx, s, o, work, built)
		if err != nil {
			// Go on with the other images; every failure is reported.
			fmt.Fprintf(o.Log, "images: FAILED %s\n", s.Ref(o.Version))
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(o.Log, "images: wrote %s %s %s\n", r.File, r.Ref, r.Digest)
		results = append(results, r)
	}
	if len(missing.Images) > 0 {
		failed = append(failed, missing)
	}
	return results, errors.Join(failed...)
}

// buildOne builds the binaries of s (once per package, kept in built) and
// writes its tarball.
func buildOne(ctx context.Context, s Spec, o Options, work string, built map[string]string) (Result, error) {
	files := map[string]string{} // image path -> local file
	for _, b := range s.Binaries {
		if b.File != "" {
			files[b.Path] = b.File
			continue
		}
		f, ok := built[b.Package]
		if !ok {
			f = filepath.Join(work, filepath.Base(b.Package))
			fmt.Fprintf(o.Log, "images: go build %s\n", b.Package)
			if err := goBuild(ctx, o, b.Package, f); err != nil {
				return Result{}, err
			}
			built[b.Package] = f
		}
		files[b.Path] = f
	}
	img, err := image(s, files, o)
	if err != nil {
		return Result{}, err
	}
	return write(s, img, o)
}

func selectSpecs(all []Spec, only []string) ([]Spec, error) {
	if len(only) == 0 {
		return all, nil
	}
	var out []Spec
	for _, n := range only {
		found := false
		for _, s := range all {
			if s.Name == n {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("images: unknown image %q", n)
		}
	}
	return out, nil
}

// isMainPackage reports whether dir holds a Go file of package main.
func isMainPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("\npackage main")) || bytes.HasPrefix(b, []byte("package main")) {
			return true
		}
	}
	return false
}

// goBuild builds a static, reproducible binary.
func goBuild(ctx context.Context, o Options, pkg, out string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=auto",
		"-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = o.Root
	cmd.Env = append(append([]string{}, o.Env...), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("images: go build %s: %w\n%s", pkg, err, stderr.String())
	}
	return nil
}

// image assembles one image from files (image path -> local file).
func image(s Spec, files map[string]string, o Options) (v1.Image, error) {
	layerTar, err := layerBytes(files, o.Epoch)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	created := v1.Time{Time: o.Epoch.UTC()}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "sgxops-images " + s.Name, Comment: "static Go binaries only"},
	})
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = o.Arch, "linux", created
	cf.Config = v1.Config{
		Entrypoint: []string{s.Binaries[0].Path},
		User:       User,
		WorkingDir: "/",
		Env:        []string{"PATH=/"},
		Labels: map[string]string{
			"org.opencontainers.image.source":   o.Source,
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.title":    "sgxops " + s.Name,
			"org.opencontainers.image.created":  created.Format(time.RFC3339),
			"org.opencontainers.image.licenses": "Apache-2.0",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	return img, nil
}

// layerBytes is a tar of files, sorted by path, owned by 0:0, mode 0755,
// with the fixed time: root cannot be replaced by the non-root user.
func layerBytes(files map[string]string, epoch time.Time) ([]byte, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		b, err := os.ReadFile(files[p])
		if err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: 0o755, Size: int64(len(b)),
			ModTime: epoch.UTC(), Uid: 0, Gid: 0, Uname: "root", Gname: "root", Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		if _, err := tw.Write(b); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	return buf.Bytes(), nil
}

// write writes img as OutDir/NAME.tar, an OCI image layout in a tar (what
// "ctr images import" reads, keeping the manifest digest; it names the image
// after the io.containerd.image.name annotation), through a temporary file.
func write(s Spec, img v1.Image, o Options) (Result, error) {
	ref := s.Ref(o.Version)
	if _, err := name.NewTag(ref, name.StrictValidation); err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	dir, err := os.MkdirTemp("", "sgxops-layout-")
	if err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	err = lp.AppendImage(img,
		layout.WithAnnotations(map[string]string{
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": o.Version,
		}),
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: o.Arch}))
	if err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	file := filepath.Join(o.OutDir, s.Name+".tar")
	tmp, err := os.CreateTemp(o.OutDir, "."+s.Name+".tar-*")
	if err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tarDir(tmp, dir, o.Epoch); err != nil {
		tmp.Close()
		return Result{}, fmt.Errorf("images: writing %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return Result{}, fmt.Errorf("images: %w", err)
	}
	return Result{Name: s.Name, Ref: ref, File: file, Digest: d}, nil
}

// tarDir writes the tree under dir to w: entries sorted by path, owned by
// 0:0, with the fixed time, so that the tarball is byte-for-byte reproducible.
func tarDir(w io.Writer, dir string, epoch time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch.UTC(), Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		switch {
		case st.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		case st.Mode().IsRegular():
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, st.Size()
		default:
			return fmt.Errorf("unexpected file %s in the image layout", p)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
