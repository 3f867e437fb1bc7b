package apiversions

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/kubegate/kubegate/internal/apilifecycle"
)

func TestAPILifecycleTableIsCurrent(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-json", "k8s.io/api").Output()
	if err != nil {
		t.Skip("go list:", err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	want, err := apilifecycle.Generate("apiversions", mod.Dir, mod.Version)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile("lifecycle_gen.go")
	if string(got) != string(want) {
		t.Error("lifecycle_gen.go is stale: run go generate ./gate/apiversions")
	}
}

func TestParseMinor(t *testing.T) {
	for v, want := range map[string]int{"v1.30.2": 30, "1.35": 35, "stable-1.33": 33, "v1.36.2-eks-1": 36} {
		if got, ok := ParseMinor(v); !ok || got != want {
			t.Errorf("ParseMinor(%q) = %d, %t", v, got, ok)
		}
	}
	for _, v := range []string{"3.6.5-0", "1", "", "v2.1"} {
		if _, ok := ParseMinor(v); ok {
			t.Errorf("ParseMinor(%q) read %q as a Kubernetes version", v, v)
		}
	}
	if !RemovedIn("batch/v1beta1", "CronJob", 25) || RemovedIn("batch/v1beta1", "CronJob", 24) || RemovedIn("apps/v1", "Deployment", NewestKnownMinor) {
		t.Error("RemovedIn")
	}
}
