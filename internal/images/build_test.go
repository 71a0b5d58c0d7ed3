package images

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// TestBuildReproducible builds the images twice into two directories and
// compares digests and tarball bytes, then reads them back as ctr does. The
// binaries embed the VCS state, so a file edited in the checkout between the
// two builds (someone working in it) makes them differ: run it on a quiet tree.
func TestBuildReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries (a minute cold)")
	}
	root := repoRoot(t)
	epoch := time.Unix(1764748800, 0)
	opts := func(dir string) Options {
		return Options{Root: root, OutDir: dir, Version: "0.1.0", Epoch: epoch, Revision: "0123abcd",
			Env: os.Environ(), Only: []string{"sgxops", "sample"}}
	}
	a, err := Build(context.Background(), opts(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), opts(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("%d and %d images, want 2", len(a), len(b))
	}
	for i := range a {
		if a[i].Digest != b[i].Digest {
			t.Errorf("%s: digest %s then %s", a[i].Ref, a[i].Digest, b[i].Digest)
		}
		fa, _ := os.ReadFile(a[i].File)
		fb, _ := os.ReadFile(b[i].File)
		if string(fa) != string(fb) {
			t.Errorf("%s: the tarballs differ", a[i].Ref)
		}
	}
	checkImage(t, a[0], "/sgxops", epoch)
	checkImage(t, a[1], "/sgxops-sample", epoch)
}

// checkImage reads r's tarball back as ctr does: the OCI layout's index
// entry annotated with the reference, and checks the image's contract.
func checkImage(t *testing.T, r Result, entry string, epoch time.Time) {
	t.Helper()
	dir := t.TempDir()
	untar(t, r.File, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s: not an OCI layout: %v", r.File, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["io.containerd.image.name"] != r.Ref {
		t.Fatalf("index %+v does not name %s", im.Manifests, r.Ref)
	}
	if im.Manifests[0].Digest != r.Digest {
		t.Errorf("index digest %s, Build reported %s", im.Manifests[0].Digest, r.Digest)
	}
	img, err := idx.Image(r.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	switch {
	case len(c.Entrypoint) != 1 || c.Entrypoint[0] != entry:
		t.Errorf("entrypoint %v, want [%s]", c.Entrypoint, entry)
	case c.User != "65532:65532":
		t.Errorf("user %q", c.User)
	case c.Labels["org.opencontainers.image.revision"] != "0123abcd" || c.Labels["org.opencontainers.image.source"] == "":
		t.Errorf("labels %v", c.Labels)
	case !cf.Created.Time.Equal(epoch) || cf.OS != "linux":
		t.Errorf("created %v os %s", cf.Created, cf.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Mode != 0o755 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: uid %d gid %d mode %o time %v", h.Name, h.Uid, h.Gid, h.Mode, h.ModTime)
		}
	}
	if len(names) != 1 || "/"+names[0] != entry {
		t.Errorf("layer holds %v, want only %s (no shell, nothing else)", names, entry)
	}
}

func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBuildMissingMain(t *testing.T) {
	root := t.TempDir()
	_, err := Build(context.Background(), Options{Root: root, OutDir: t.TempDir(), Version: "0.1.0",
		Epoch: time.Unix(1, 0), Only: []string{"operator"}})
	var me *MissingError
	if !errors.As(err, &me) || !errors.Is(err, ErrMissingMain) {
		t.Fatalf("err = %v, want a *MissingError", err)
	}
	if len(me.Images) != 1 || me.Images[0] != "operator" || len(me.Packages) != 2 {
		t.Fatalf("missing %+v", me)
	}
}

func TestBuildOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"no root", Options{OutDir: "x", Version: "1", Epoch: time.Unix(1, 0)}},
		{"no epoch", Options{Root: "x", OutDir: "x", Version: "1"}},
		{"unknown image", Options{Root: "x", OutDir: "x", Version: "1", Epoch: time.Unix(1, 0), Only: []string{"nope"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Build(context.Background(), tt.o); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestSpecRefs(t *testing.T) {
	want := map[string]string{
		"attestd": "sgxops.local/attestd:0.1.0", "operator": "sgxops.local/operator:0.1.0",
		"sgxops": "sgxops.local/sgxops:0.1.0", "sample": "sgxops.local/sample:0.1.0",
	}
	for _, s := range Specs {
		if s.Ref("0.1.0") != want[s.Name] {
			t.Errorf("%s: %s", s.Name, s.Ref("0.1.0"))
		}
	}
	if len(Specs) != len(want) {
		t.Errorf("%d specs", len(Specs))
	}
}
