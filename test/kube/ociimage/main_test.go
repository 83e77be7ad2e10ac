package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// untar returns the regular files of a tar by name.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

// blob returns the blob a descriptor names, after checking that the digest
// and size are those of its content.
func blob(t *testing.T, files map[string][]byte, d Descriptor) []byte {
	t.Helper()
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q: not sha256", d.Digest)
	}
	b, ok := files["blobs/sha256/"+hexDigest]
	if !ok {
		t.Fatalf("no blob for %s", d.Digest)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != hexDigest {
		t.Fatalf("blob %s has digest %s", hexDigest, got)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s: descriptor size %d, content %d bytes", d.Digest, d.Size, len(b))
	}
	return b
}

func TestWrite(t *testing.T) {
	bin := []byte("\x7fELF not really a binary, but bytes to carry")
	const ref = "docker.io/library/drain-hello:dev"
	var out bytes.Buffer
	desc, err := Write(&out, Image{Ref: ref, Binary: bin, Name: "drain", Args: []string{"hello"}, Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, out.Bytes())

	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != mediaIndex || len(idx.Manifests) != 1 {
		t.Fatalf("index.json = %s", files["index.json"])
	}
	m := idx.Manifests[0]
	if m.Digest != desc.Digest || m.Size != desc.Size || m.MediaType != mediaManifest {
		t.Errorf("index lists %+v, Write returned %+v", m, desc)
	}
	for _, k := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
		if m.Annotations[k] != ref {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], ref)
		}
	}

	var man manifest
	if err := json.Unmarshal(blob(t, files, m), &man); err != nil {
		t.Fatal(err)
	}
	if man.SchemaVersion != 2 || man.MediaType != mediaManifest || man.Config.MediaType != mediaConfig || len(man.Layers) != 1 || man.Layers[0].MediaType != mediaLayer {
		t.Fatalf("manifest = %+v", man)
	}
	var cfg config
	if err := json.Unmarshal(blob(t, files, man.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	layer := blob(t, files, man.Layers[0])
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/drain" || strings.Join(cfg.Config.Cmd, " ") != "hello" {
		t.Errorf("entrypoint %q cmd %q", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != man.Layers[0].Digest {
		t.Errorf("rootfs %+v, layer digest %s (uncompressed: must be equal)", cfg.RootFS, man.Layers[0].Digest)
	}
	if len(files) != 5 {
		t.Errorf("%d files in the layout, want oci-layout, index.json and 3 blobs", len(files))
	}

	// The layer: the binary, executable, at /drain, and the scratch directories.
	tr := tar.NewReader(bytes.NewReader(layer))
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = true
		if h.Name == "drain" {
			b, _ := io.ReadAll(tr)
			if !bytes.Equal(b, bin) || h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 {
				t.Errorf("drain in the layer: mode %o uid %d gid %d, %d bytes", h.Mode, h.Uid, h.Gid, len(b))
			}
		}
	}
	for _, n := range []string{"drain", "dev/", "etc/", "proc/", "sys/", "tmp/"} {
		if !seen[n] {
			t.Errorf("layer lacks %s", n)
		}
	}
}

func TestWriteDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	img := Image{Ref: "registry.k8s.io/pause:3.10", Binary: []byte("pause"), Name: "pause"}
	da, err := Write(&a, img)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Write(&b, img)
	if err != nil {
		t.Fatal(err)
	}
	if da.Digest != db.Digest || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two writes of the same image differ: %s, %s", da.Digest, db.Digest)
	}
	img.Binary = []byte("pause2")
	var c bytes.Buffer
	dc, err := Write(&c, img)
	if err != nil {
		t.Fatal(err)
	}
	if dc.Digest == da.Digest {
		t.Error("a different binary gave the same manifest digest")
	}
}

func TestWriteRejects(t *testing.T) {
	for _, img := range []Image{
		{Ref: "", Binary: []byte("x"), Name: "x"},
		{Ref: "r", Binary: []byte("x"), Name: ""},
		{Ref: "r", Binary: []byte("x"), Name: "a/b"},
		{Ref: "r", Binary: []byte("x"), Name: ".."},
	} {
		if _, err := Write(io.Discard, img); err == nil {
			t.Errorf("Write(%+v) = nil error", img)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := os.WriteFile(bin, []byte("pause"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "pause.tar")
	var stdout bytes.Buffer
	if err := run([]string{"-ref", "registry.k8s.io/pause:3.10", "-bin", bin, "-o", out}, &stdout); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, data)
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	want := "registry.k8s.io/pause:3.10 " + idx.Manifests[0].Digest
	if !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("stdout %q, want prefix %q", stdout.String(), want)
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	if err := run([]string{"-ref", "r", "-bin", filepath.Join(dir, "missing"), "-o", filepath.Join(dir, "x.tar")}, io.Discard); err == nil {
		t.Error("missing binary: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.tar")); !os.IsNotExist(err) {
		t.Error("output written for a missing binary")
	}
}

// TestRunAdd: -add puts host trees in the image (parent directories made,
// links inside a directory kept as links, a linked file named itself
// followed, as ldd's libraries are), and -entrypoint, -env and -workdir
// reach the config.
func TestRunAdd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "drain")
	app := filepath.Join(dir, "app")
	for _, d := range []string{"node_modules/express", "node_modules/.bin"} {
		if err := os.MkdirAll(filepath.Join(app, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{bin: "drain", filepath.Join(app, "server.js"): "js", filepath.Join(app, "node_modules/express/index.js"): "express",
		filepath.Join(dir, "libc.so.6.real"): "libc"} {
		if err := os.WriteFile(name, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../express/index.js", filepath.Join(app, "node_modules/.bin/express")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("libc.so.6.real", filepath.Join(dir, "libc.so.6")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img.tar")
	if err := run([]string{"-ref", "docker.io/library/drain-express:dev", "-bin", bin,
		"-add", filepath.Join(dir, "libc.so.6") + ":/lib/x86_64-linux-gnu/libc.so.6", "-add", app + ":/app",
		"-env", "PATH=/usr/bin:/", "-env", "PORT=8080", "-workdir", "/app",
		"-entrypoint", `["/drain", "exec", "--", "/usr/bin/node", "server.js"]`, "-o", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, data)
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(blob(t, files, idx.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	var c config
	if err := json.Unmarshal(blob(t, files, m.Config), &c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Config.Entrypoint, " "); got != "/drain exec -- /usr/bin/node server.js" || c.Config.WorkingDir != "/app" ||
		strings.Join(c.Config.Env, " ") != "PATH=/usr/bin:/ PORT=8080" {
		t.Errorf("config %+v", c.Config)
	}
	type entry struct {
		typ  byte
		data string
		link string
	}
	got := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(blob(t, files, m.Layers[0])))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[h.Name]; dup {
			t.Errorf("%s twice in the layer", h.Name)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = entry{h.Typeflag, string(b), h.Linkname}
	}
	for name, want := range map[string]entry{
		"drain":                             {tar.TypeReg, "drain", ""},
		"lib/":                              {tar.TypeDir, "", ""},
		"lib/x86_64-linux-gnu/":             {tar.TypeDir, "", ""},
		"lib/x86_64-linux-gnu/libc.so.6":    {tar.TypeReg, "libc", ""},
		"app/":                              {tar.TypeDir, "", ""},
		"app/server.js":                     {tar.TypeReg, "js", ""},
		"app/node_modules/express/index.js": {tar.TypeReg, "express", ""},
		"app/node_modules/.bin/express":     {tar.TypeSymlink, "", "../express/index.js"},
	} {
		if g, ok := got[name]; !ok || g != want {
			t.Errorf("%s: %+v (present %v), want %+v", name, g, ok, want)
		}
	}
	for _, bad := range [][]string{
		{"-add", app},
		{"-add", filepath.Join(dir, "missing") + ":/x"},
		{"-entrypoint", "/drain exec"},
		{"-env", "=x"},
		{"-add", app + ":/app", "-add", app + ":/app"},
	} {
		args := append([]string{"-ref", "r", "-bin", bin, "-o", filepath.Join(dir, "bad.tar")}, bad...)
		if err := run(args, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
