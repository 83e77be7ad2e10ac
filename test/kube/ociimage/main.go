// Command ociimage writes a single-layer OCI image layout, tarred, that holds
// one static binary, for `ctr images import` (no registry, no Docker):
//
//	ociimage -ref docker.io/library/drain-hello:dev -bin drain -o hello.tar
//
// -add SRC:DST (repeatable) adds a host file or directory tree at DST, and
// -entrypoint, -env and -workdir set the image's config, so an application
// with its runtime fits too (test/kube/image-express: node, its shared
// libraries, the app under /app, drain exec as the entrypoint):
//
//	ociimage -ref docker.io/library/drain-express:dev -bin drain -add /usr/bin/node:/usr/bin/node \
//	  -add peers/express:/app -workdir /app -env PORT=8080 \
//	  -entrypoint '["/drain", "exec", "--", "/usr/bin/node", "server.js"]' -o express.tar
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
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
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
	// Files are more entries of the root after the binary, in this order;
	// their parent directories are made as needed (0755).
	Files []Entry
	// Entrypoint replaces ["/Name"]; WorkDir is the config's WorkingDir.
	Entrypoint []string
	WorkDir    string
}

// Entry is one file, directory or symbolic link of the image's root.
type Entry struct {
	Path string      // relative to the root, e.g. usr/bin/node
	Mode os.FileMode // type (0, ModeDir or ModeSymlink) and permission bits
	Data []byte      // a regular file's content
	Link string      // a symbolic link's target
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
		WorkingDir string   `json:"WorkingDir,omitempty"`
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
	return layer(Image{Binary: bin, Name: name})
}

// layer returns img's layer tar: the scratch root, the binary as /Name (if
// any), then img.Files with their parent directories.
func layer(img Image) ([]byte, error) {
	if img.Name != "" || img.Entrypoint == nil {
		if name := img.Name; name == "" || path.Base(name) != name || name == "." || name == ".." {
			return nil, fmt.Errorf("ociimage: binary name %q must be a plain file name", name)
		}
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	seen := map[string]bool{}
	write := func(h *tar.Header, data []byte) error {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	// dirs writes the parent directories of p not written yet.
	dirs := func(p string) error {
		var parents []string
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if !seen[d] {
				seen[d] = true
				if err := write(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}, nil); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, d := range []string{"dev", "etc", "proc", "sys", "tmp"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		seen[d] = true
		if err := write(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode}, nil); err != nil {
			return nil, err
		}
	}
	if img.Name != "" {
		seen[img.Name] = true
		if err := write(&tar.Header{Typeflag: tar.TypeReg, Name: img.Name, Mode: 0o755, Size: int64(len(img.Binary))}, img.Binary); err != nil {
			return nil, err
		}
	}
	for _, e := range img.Files {
		p := path.Clean(strings.TrimPrefix(e.Path, "/"))
		if p == "." || p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("ociimage: entry path %q is not inside the root", e.Path)
		}
		if seen[p] {
			if e.Mode.IsDir() {
				continue // a directory made for an earlier entry
			}
			return nil, fmt.Errorf("ociimage: %s is in the image twice", p)
		}
		if err := dirs(p); err != nil {
			return nil, err
		}
		seen[p] = true
		h := &tar.Header{Name: p, Mode: int64(e.Mode.Perm())}
		switch {
		case e.Mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		case e.Mode&os.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
		case e.Mode.IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Data))
		default:
			return nil, fmt.Errorf("ociimage: %s: only files, directories and symbolic links (mode %v)", p, e.Mode)
		}
		if err := write(h, e.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Tree reads the host file or directory src as entries under dst: src
// itself is followed if it is a symbolic link (a library named by ldd,
// say); inside a directory, symbolic links stay links (node_modules/.bin).
// Directories are walked in lexical order, so the entries are too.
func Tree(src, dst string) ([]Entry, error) {
	dst = strings.TrimPrefix(path.Clean("/"+dst), "/")
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		return []Entry{{Path: dst, Mode: fi.Mode().Perm(), Data: data}}, nil
	}
	var out []Entry
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out = append(out, Entry{Path: name, Mode: os.ModeDir | info.Mode().Perm()})
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, Entry{Path: name, Mode: os.ModeSymlink | 0o777, Link: link})
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, Entry{Path: name, Mode: info.Mode().Perm(), Data: data})
		default:
			return fmt.Errorf("ociimage: %s: not a file, directory or symbolic link", p)
		}
		return nil
	})
	return out, err
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
	layer, err := layer(img)
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
	if img.Entrypoint != nil {
		c.Config.Entrypoint = img.Entrypoint
	}
	c.Config.Cmd = img.Args
	c.Config.Env = img.Env
	c.Config.WorkingDir = img.WorkDir
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

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	ref := fs.String("ref", "", "full image reference (docker.io/library/NAME:TAG)")
	bin := fs.String("bin", "", "static binary to put in the image")
	name := fs.String("name", "", "its file name in the image root, the entrypoint (default: base name of -bin)")
	out := fs.String("o", "", "output tar file")
	var adds, envs list
	fs.Var(&adds, "add", "`SRC:DST`: add the host file or directory SRC at DST in the image (repeatable)")
	fs.Var(&envs, "env", "`NAME=VALUE` in the image's environment (repeatable; default PATH=/)")
	entrypoint := fs.String("entrypoint", "", `the entrypoint as a JSON array, e.g. '["/drain", "exec", "--", "node", "server.js"]' (default ["/NAME"])`)
	workdir := fs.String("workdir", "", "the working directory of the entrypoint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	usage := errors.New("usage: ociimage -ref REF -bin FILE [-name NAME] [-add SRC:DST]... [-env K=V]... [-entrypoint JSON] [-workdir DIR] -o OUT.tar")
	if *ref == "" || *bin == "" || *out == "" || fs.NArg() > 0 {
		return usage
	}
	if *name == "" {
		*name = path.Base(*bin)
	}
	img := Image{Ref: *ref, Name: *name, Env: envs, WorkDir: *workdir}
	if *entrypoint != "" {
		if err := json.Unmarshal([]byte(*entrypoint), &img.Entrypoint); err != nil || len(img.Entrypoint) == 0 {
			return fmt.Errorf("ociimage: -entrypoint %q: want a non-empty JSON array of strings", *entrypoint)
		}
	}
	for _, e := range envs {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("ociimage: -env %q: want NAME=VALUE", e)
		}
	}
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok || src == "" || dst == "" {
			return fmt.Errorf("ociimage: -add %q: want SRC:DST", a)
		}
		entries, err := Tree(src, dst)
		if err != nil {
			return fmt.Errorf("ociimage: -add %s: %w", a, err)
		}
		img.Files = append(img.Files, entries...)
	}
	if img.Binary, err = os.ReadFile(*bin); err != nil {
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
	desc, err := Write(f, img)
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
