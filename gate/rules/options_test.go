package rules

import (
	"fmt"

	"github.com/kubegate/kubegate/gate/model"
	kgpolicy "github.com/kubegate/kubegate/gate/policy"
)

// under is the default policy changed by tweak, as the options a set is checked under.
func under(tweak func(*kgpolicy.Policy)) model.Options {
	p := kgpolicy.Default()
	tweak(p)
	return model.Options{Policy: p}
}

func kubeMinor(minor int) model.Options {
	return under(func(p *kgpolicy.Policy) { p.KubernetesVersion = fmt.Sprintf("1.%d", minor) })
}

func profile(name string) model.Options {
	return under(func(p *kgpolicy.Policy) { p.Profile = kgpolicy.Profile(name) })
}

func settings(s kgpolicy.Settings) model.Options {
	return under(func(p *kgpolicy.Policy) { p.Rules.Settings = s })
}

func imagesPolicy(i kgpolicy.Images) model.Options {
	return under(func(p *kgpolicy.Policy) { p.Images = i })
}
