package model

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kubegate/kubegate/gate/apiversions"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/schema"
	"github.com/kubegate/kubegate/internal/parallel"
)

// schemaVerdicts validates every object once, in parallel, for all the schema rules.
func (s *Set) SchemaVerdicts() ([]schema.Verdict, error) {
	s.schemaOnce.Do(func() {
		v, err := schema.NewValidator(s.crds, s.removedAPI)
		if err != nil {
			s.schemaErr = err
			return
		}
		s.schemaResults = make([]schema.Verdict, len(s.Objects))
		parallel.For(len(s.Objects), func(i int) {
			switch o := s.Objects[i]; {
			case s.derived[i].verdict != nil: // validated when it was settled
				s.schemaResults[i] = *s.derived[i].verdict
			case ConfigKind(o):
			case o.Released() && !o.HasText():
				// Released without a verdict or text: the schema rules are off (Settle)
				// and only an input error of another object asks, or a definition no
				// definition validates (DropUnusedText).
				s.schemaResults[i] = schema.Verdict{NotValidated: true}
			default:
				s.schemaResults[i] = v.Validate(o)
			}
		})
	})
	return s.schemaResults, s.schemaErr
}

type schemaState struct {
	schemaOnce    sync.Once
	schemaResults []schema.Verdict
	schemaErr     error
	// undecodable are the objects the rules could not decode into their API type: an
	// input error reports their type errors, at the field.
	undecodable map[*manifest.Object]bool
}

// decodeError is the input error for an object that does not decode into its API type
// (the rules cannot check it): at the field the schema names, else at path.
func (s *Set) decodeError(o *manifest.Object, path, what string, err error) *manifest.Error {
	if s.undecodable == nil {
		s.undecodable = map[*manifest.Object]bool{}
	}
	s.undecodable[o] = true
	src, msg := o.SourceOf(path), err.Error()
	if verdicts, verr := s.SchemaVerdicts(); verr == nil {
		for _, p := range verdicts[slices.Index(s.Objects, o)].Problems {
			if p.Kind == schema.WrongType {
				// The schema names the field; the decoder's words name the Go type.
				src, msg = o.SourceOf(p.Field), p.Msg+" ("+msg+")"
				break
			}
		}
	}
	return &manifest.Error{File: src.File, Line: src.Line, Msg: fmt.Sprintf("%s: %s: %s", o.Ref(), what, msg)}
}

// configKind: configuration files that are inputs (kubelet, kubeadm, API server,
// kubeconfigs, kubegate's own kinds) are not API objects and are checked by their own rules.
func ConfigKind(o *manifest.Object) bool {
	group, _, _ := strings.Cut(o.APIVersion, "/")
	return strings.HasSuffix(group, ".config.k8s.io") || group == "audit.k8s.io" ||
		group == "kubeadm.k8s.io" || group == "kubegate.dev" ||
		o.APIVersion == "v1" && o.Kind == "Config" // a kubeconfig
}

// removedAPI says whether the target Kubernetes has stopped serving apiVersion/kind.
func (s *Set) removedAPI(apiVersion, kind string) bool {
	return apiversions.RemovedIn(apiVersion, kind, s.TargetMinor())
}

// NotValidated lists the kinds ("group/version Kind") of the objects that no schema
// describes (custom resources whose definition is not among the inputs), for a note.
func (s *Set) NotValidated() []string {
	verdicts, err := s.SchemaVerdicts()
	if err != nil {
		return []string{fmt.Sprintf("all %d objects (%v)", len(s.Objects), err)}
	}
	var kinds []string
	for i, v := range verdicts {
		if v.NotValidated {
			kinds = append(kinds, s.Objects[i].APIVersion+" "+s.Objects[i].Kind)
		}
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// TargetMinor is the Kubernetes minor the set is checked for: the policy's, else the
// newest the gate knows.
func (s *Set) TargetMinor() int {
	if s.KubeMinor > 0 {
		return s.KubeMinor
	}
	return apiversions.NewestKnownMinor
}

// Undecodable says whether o did not decode into its API type (an input error says so).
func (s *Set) Undecodable(o *manifest.Object) bool { return s.undecodable[o] }
