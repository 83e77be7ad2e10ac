// Command ociimage writes a single-layer OCI image layout, tarred, that holds
// one static binary, for `ctr images import` (no registry, no Docker):
//
//	ociimage -ref docker.io/library/drain-hello:dev -bin drain -o hello.tar
//
// The layer is an uncompressed tar of a scratch root (/etc, /tmp, /proc,
// /sys, /dev and the binary as /NAME), so its digest is also its diff ID. The
// tar is deterministic: the same binary gives the same image digest. index.json
// names the image with both io.containerd.image.name (what containerd's
// import uses) and org.opencontainers.image.ref.name; ref must be the full
// reference the kubelet asks for (docker.io/library/NAME:TAG for NAME:TAG).
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"time"
)

// Media types of the OCI image spec v1.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// Image is what goes into the layout.
type Image struct {
	Ref    string   // full reference, e.g. docker.io/library/drain-hello:dev
	Binary []byte   // the static executable
	Name   string   // its name in the root: /Name; the entrypoint
	Args   []string // Cmd (default arguments); the pod spec's args replace them
	Arch   string   // GOARCH of the binary; "" means runtime.GOARCH
	Env    []string // "" means PATH=/
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

type config struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd,omitempty"`
		Env        []string `json:"Env"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// epoch is every file's mtime: the output depends only on the input.
var epoch = time.Unix(0, 0).UTC()

// Layer returns the layer tar: a scratch root holding the binary as /name.
func Layer(bin []byte, name string) ([]byte, error) {
	if name == "" || path.Base(name) != name || name == "." || name == ".." {
		return nil, fmt.Errorf("ociimage: binary name %q must be a plain file name", name)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, d := range []string{"dev", "etc", "proc", "sys", "tmp"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func describe(mediaType string, blob []byte) Descriptor {
	sum := sha256.Sum256(blob)
	return Descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(blob))}
}

// Write writes img as a tarred OCI image layout to w and returns the
// manifest's descriptor (as listed in index.json).
func Write(w io.Writer, img Image) (Descriptor, error) {
	if img.Ref == "" {
		return Descriptor{}, errors.New("ociimage: no reference")
	}
	layer, err := Layer(img.Binary, img.Name)
	if err != nil {
		return Descriptor{}, err
	}
	layerDesc := describe(mediaLayer, layer)

	var c config
	c.Architecture = img.Arch
	if c.Architecture == "" {
		c.Architecture = runtime.GOARCH
	}
	c.OS = "linux"
	c.Config.Entrypoint = []string{"/" + img.Name}
	c.Config.Cmd = img.Args
	c.Config.Env = img.Env
	if len(c.Config.Env) == 0 {
		c.Config.Env = []string{"PATH=/"}
	}
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{layerDesc.Digest} // uncompressed: digest == diff ID
	configJSON, err := json.Marshal(c)
	if err != nil {
		return Descriptor{}, err
	}
	configDesc := describe(mediaConfig, configJSON)

	manifestJSON, err := json.Marshal(manifest{SchemaVersion: 2, MediaType: mediaManifest, Config: configDesc, Layers: []Descriptor{layerDesc}})
	if err != nil {
		return Descriptor{}, err
	}
	manifestDesc := describe(mediaManifest, manifestJSON)
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name":          img.Ref,
		"org.opencontainers.image.ref.name": img.Ref,
	}
	indexJSON, err := json.Marshal(index{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []Descriptor{manifestDesc}})
	if err != nil {
		return Descriptor{}, err
	}

	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", indexJSON},
		{"blobs/sha256/" + hexOf(manifestDesc), manifestJSON},
		{"blobs/sha256/" + hexOf(configDesc), configJSON},
		{"blobs/sha256/" + hexOf(layerDesc), layer},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return Descriptor{}, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return Descriptor{}, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return Descriptor{}, err
		}
	}
	return manifestDesc, tw.Close()
}

func hexOf(d Descriptor) string { return d.Digest[len("sha256:"):] }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	ref := fs.String("ref", "", "full image reference (docker.io/library/NAME:TAG)")
	bin := fs.String("bin", "", "static binary to put in the image")
	name := fs.String("name", "", "its file name in the image root, the entrypoint (default: base name of -bin)")
	out := fs.String("o", "", "output tar file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" || *bin == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("usage: ociimage -ref REF -bin FILE [-name NAME] -o OUT.tar")
	}
	if *name == "" {
		*name = path.Base(*bin)
	}
	data, err := os.ReadFile(*bin)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	desc, err := Write(f, Image{Ref: *ref, Binary: data, Name: *name})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s %s %d\n", *ref, desc.Digest, desc.Size)
	return err
}
