// Package schematest validates documents the gate writes (SARIF, action.yml, pre-commit
// hooks) against the published JSON schemas kept in testdata/schemas, offline.
package schematest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// Dir is testdata/schemas of the repository.
func Dir() string { return schemaDir }

// schemaDir is found when the test binary starts, before a test changes directory: the
// first directory above the test's own (go test's working directory) with go.mod. The
// source path runtime.Caller would give is module-relative under -trimpath.
var schemaDir = func() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "schemas")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("testdata", "schemas")
		}
		dir = parent
	}
}()

// Validate fails t unless doc — JSON, or YAML when yamlDoc — is valid against the schema
// file of testdata/schemas, or at an absolute path (formats asserted). References to other
// files are not fetched.
func Validate(t testing.TB, schema string, doc []byte, yamlDoc bool) {
	t.Helper()
	if yamlDoc {
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
		var err error
		if doc, err = json.Marshal(v); err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if !filepath.IsAbs(schema) {
		schema = filepath.Join(Dir(), schema)
	}
	sch, err := c.Compile(schema)
	if err != nil {
		t.Fatalf("compiling %s: %v", schema, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("%s: not JSON: %v", schema, err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("not valid against %s: %v", schema, err)
	}
}
