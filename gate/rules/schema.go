package rules

// API schema (practice 000-1: manifests the target Kubernetes accepts as written): every
// object is validated against the schema of its kind, as the API server would, so that a
// typo does not silently drop the settings under it (securityContex:), an unknown kind or
// version does not pass unchecked, and a value of the wrong type fails here rather than
// at deploy time. See gate/schema.

import (
	"github.com/kubegate/kubegate/gate/apiversions"
	"github.com/kubegate/kubegate/gate/model"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/schema"
)

const schemaDoc = " Built-in kinds are checked against the field schema of the API types kubegate is built " +
	"with (the one the API server uses for server-side apply), custom resources against the " +
	"openAPIV3Schema of their CustomResourceDefinition when it is among the inputs; objects of " +
	"other custom kinds are listed in a note as not validated."

var (
	schemaUnknownAPIVersion = &Rule{
		ID: "schema-unknown-api-version", Title: "apiVersion that does not exist", Severity: High,
		Practices: []string{"000-1"},
		Refs:      []string{"https://kubernetes.io/docs/reference/using-api/#api-groups"},
		Fix:       "Use an apiVersion the group serves (the message lists them); kubectl api-versions shows a cluster's.",
		Doc: "The object's apiVersion names a built-in API group that has no such version, or an API " +
			"group without a dot (custom resource groups always have one), so the API server rejects it " +
			"and nothing else checks it." + schemaDoc,
	}
	schemaUnknownKind = &Rule{
		ID: "schema-unknown-kind", Title: "Kind the apiVersion does not serve", Severity: High,
		Practices: []string{"000-1"},
		Refs:      []string{"https://kubernetes.io/docs/reference/kubernetes-api/"},
		Fix:       "Correct the kind (the message suggests the nearest) or the apiVersion that serves it.",
		Doc: "The group/version is served but has no such kind (a typo such as Deploymnet): the API " +
			"server rejects the object, and no workload rule recognises it, so its settings go unchecked." + schemaDoc,
	}
	schemaUnknownField = &Rule{
		ID: "schema-unknown-field", Title: "Field the schema does not know", Severity: High,
		Practices: []string{"000-1"},
		Refs:      []string{"https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation"},
		Fix:       "Correct the field name (a typo drops everything under it) or move it where the schema has it.",
		Doc: "The object has a field its kind's schema does not declare. kubectl apply warns at best and " +
			"the API server drops the field, with everything under it: `securityContex:` silently loses " +
			"the security settings under it, and the gate's other rules never saw them either." + schemaDoc,
	}
	schemaInvalidValue = &Rule{
		ID: "schema-invalid-value", Title: "Value of the wrong type", Severity: High,
		Practices: []string{"000-1"},
		Refs:      []string{"https://kubernetes.io/docs/reference/kubernetes-api/"},
		Fix:       "Write the value with the type the message names (quote numbers meant as strings).",
		Doc:       "A field holds a value of the wrong type (a number where the schema wants a string, a list where it wants a map): the API server rejects the object." + schemaDoc,
	}
)

var schemaRules = map[schema.ProblemKind]*Rule{
	schema.UnknownAPIVersion: schemaUnknownAPIVersion,
	schema.UnknownKind:       schemaUnknownKind,
	schema.UnknownField:      schemaUnknownField,
	schema.WrongType:         schemaInvalidValue,
}

// schemaEntries are the schema rules, one per kind of problem.
func schemaEntries() []entry {
	var out []entry
	for _, kind := range []schema.ProblemKind{schema.UnknownAPIVersion, schema.UnknownKind, schema.UnknownField, schema.WrongType} {
		out = append(out, entry{schemaRules[kind], anyKind, func(s *model.Set) []Finding { return schemaFindings(s, kind) }})
	}
	return out
}

// SchemaChecked says whether any schema rule is enabled: when none is, nothing needs the
// schema.
func SchemaChecked(enabled func(id string) bool) bool {
	for _, r := range schemaRules {
		if enabled(r.ID) {
			return true
		}
	}
	return false
}

func schemaFindings(s *model.Set, kind schema.ProblemKind) []Finding {
	verdicts, err := s.SchemaVerdicts()
	if err != nil {
		return nil // NotValidated reports it
	}
	r := schemaRules[kind]
	var out []Finding
	for i, v := range verdicts {
		o := s.Objects[i]
		if kind != schema.UnknownField && kind != schema.WrongType && knownLifecycle(o) {
			continue // api-removed and api-deprecated say it, with the replacement
		}
		if kind == schema.WrongType && s.Undecodable(o) {
			continue // an input error says it
		}
		for _, p := range v.Problems {
			if p.Kind == kind {
				out = append(out, r.At(o, p.Field, "", p.Msg))
			}
		}
	}
	return out
}

// knownLifecycle: the apiVersion/kind is one the deprecation table knows (removed or
// deprecated), which its own rules report.
func knownLifecycle(o *manifest.Object) bool {
	_, ok := apiversions.Of(o.APIVersion, o.Kind)
	return ok
}
