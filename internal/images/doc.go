// Package images builds the sgxops container images as OCI image tarballs,
// with no Docker, no daemon and no registry: each image is built FROM
// nothing (go-containerregistry's empty.Image) with one layer holding only
// its static binaries, owned by root, executed as uid/gid 65532. Binaries
// are built with CGO_ENABLED=0, -trimpath and a fixed build ID; file times,
// the image's creation time and its history use one fixed timestamp (the
// commit time, or SOURCE_DATE_EPOCH as the caller passes it), so the same
// source gives the same image digest.
//
// Each tarball is an OCI image layout (go-containerregistry's layout
// package) in a tar whose index names the image with the
// io.containerd.image.name annotation: "ctr -n k8s.io images import" (tested
// form with containerd 1.6) reads it, tags it with that reference and keeps
// the manifest digest that Build reports.
//
// The package reads no flags or environment: cmd/sgxops-images wires it.
package images
