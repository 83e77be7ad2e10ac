// Package apicheck lists a package's exported names, so a test can hold them
// against a checked-in file and every new export is a deliberate choice.
package apicheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Names returns the exported names declared in the non-test Go files of
// dir, sorted: functions, types, constants, variables, methods of
// exported types as Type.Method, and exported struct fields as Type.Field.
func Names(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var names []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			names = append(names, declNames(decl)...)
		}
	}
	slices.Sort(names)
	return names, nil
}

func declNames(decl ast.Decl) []string {
	var out []string
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() {
			return nil
		}
		if d.Recv == nil {
			return []string{d.Name.Name}
		}
		typ := d.Recv.List[0].Type
		if s, ok := typ.(*ast.StarExpr); ok {
			typ = s.X
		}
		if id, ok := typ.(*ast.Ident); ok && id.IsExported() {
			out = append(out, id.Name+"."+d.Name.Name)
		}
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				if !s.Name.IsExported() {
					continue
				}
				out = append(out, s.Name.Name)
				// Exported fields are API too: a new field in Options
				// or Stats is a deliberate choice like a new function.
				if st, ok := s.Type.(*ast.StructType); ok {
					for _, f := range st.Fields.List {
						for _, n := range f.Names {
							if n.IsExported() {
								out = append(out, s.Name.Name+"."+n.Name)
							}
						}
						if len(f.Names) == 0 { // embedded
							if id := embeddedName(f.Type); id != "" && ast.IsExported(id) {
								out = append(out, s.Name.Name+"."+id)
							}
						}
					}
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	return out
}

// embeddedName returns the type name of an embedded field (T, *T, p.T).
func embeddedName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.SelectorExpr:
		return t.Sel.Name
	}
	return ""
}

// Check compares the exported names of the current directory with the file
// golden (one name per line). With update set it rewrites golden instead.
func Check(t *testing.T, golden string, update bool) {
	t.Helper()
	names, err := Names(".")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names, "\n") + "\n"
	if update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("exported names changed; if on purpose, rerun with the update flag to rewrite %s\ngot:\n%swant:\n%s", golden, got, want)
	}
}
