package policy_test

// The policy names rules of every stage: the image stage's rules are registered in the
// catalogue by package images, which imports this package, so its tests link it here.
import _ "github.com/kubegate/kubegate/images"
