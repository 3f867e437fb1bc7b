package model

import (
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// RBACIndex resolves role references and aggregation once for all RBAC rules.
type RBACIndex struct {
	clusterRoles map[string]*Typed[rbacv1.ClusterRole]
	roles        map[string]*Typed[rbacv1.ClusterRole] // namespace/name
	effective    map[*rbacv1.ClusterRole][]rbacv1.PolicyRule
	boundBy      map[*rbacv1.ClusterRole][]Typed[rbacv1.ClusterRoleBinding]
}

func newRBACIndex(s *Set) *RBACIndex {
	x := &RBACIndex{
		clusterRoles: map[string]*Typed[rbacv1.ClusterRole]{}, roles: map[string]*Typed[rbacv1.ClusterRole]{},
		effective: map[*rbacv1.ClusterRole][]rbacv1.PolicyRule{}, boundBy: map[*rbacv1.ClusterRole][]Typed[rbacv1.ClusterRoleBinding]{},
	}
	for i := range s.Roles {
		r := &s.Roles[i]
		if r.Object.Kind == "ClusterRole" {
			x.clusterRoles[r.Object.Name] = r
		} else {
			x.roles[s.NamespaceOf(r.Object)+"/"+r.Object.Name] = r
		}
	}
	for _, r := range x.clusterRoles {
		x.effective[r.V] = x.aggregate(r.V, map[*rbacv1.ClusterRole]bool{})
	}
	for _, r := range x.roles {
		x.effective[r.V] = r.V.Rules
	}
	for _, b := range s.Bindings {
		if role := x.RoleOf(s, b); role != nil {
			x.boundBy[role.V] = append(x.boundBy[role.V], b)
		}
	}
	return x
}

// aggregate returns a ClusterRole's rules plus those of the ClusterRoles its
// aggregationRule selects, as the API server's aggregation controller would fill them in.
func (x *RBACIndex) aggregate(r *rbacv1.ClusterRole, seen map[*rbacv1.ClusterRole]bool) []rbacv1.PolicyRule {
	seen[r] = true
	rules := slices.Clone(r.Rules)
	if r.AggregationRule == nil {
		return rules
	}
	for _, sel := range r.AggregationRule.ClusterRoleSelectors {
		selector, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(x.clusterRoles)) {
			src := x.clusterRoles[name]
			if !seen[src.V] && selector.Matches(labels.Set(src.V.Labels)) {
				rules = append(rules, x.aggregate(src.V, seen)...)
			}
		}
	}
	return rules
}

// RoleOf returns the role a binding refers to, when it is in the set.
func (x *RBACIndex) RoleOf(s *Set, b Typed[rbacv1.ClusterRoleBinding]) *Typed[rbacv1.ClusterRole] {
	if b.V.RoleRef.Kind == "ClusterRole" {
		return x.clusterRoles[b.V.RoleRef.Name]
	}
	return x.roles[s.NamespaceOf(b.Object)+"/"+b.V.RoleRef.Name]
}

// Effective are a role's rules with those aggregated into it.
func (x *RBACIndex) Effective(r *rbacv1.ClusterRole) []rbacv1.PolicyRule { return x.effective[r] }

// BoundBy are the bindings in the set that refer to the role.
func (x *RBACIndex) BoundBy(r *rbacv1.ClusterRole) []Typed[rbacv1.ClusterRoleBinding] {
	return x.boundBy[r]
}
