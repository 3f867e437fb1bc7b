// Command gen writes gate/apiversions/lifecycle_gen.go from the k8s.io/api module the build
// uses: go generate ./gate/apiversions.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"

	"github.com/kubegate/kubegate/internal/apilifecycle"
)

func main() {
	out, err := exec.Command("go", "list", "-m", "-json", "k8s.io/api").Output()
	if err != nil {
		fail(fmt.Errorf("go list -m k8s.io/api: %v", err))
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil {
		fail(err)
	}
	if err := apilifecycle.WriteFile("lifecycle_gen.go", "apiversions", mod.Dir, mod.Version); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "apilifecycle:", err)
	os.Exit(1)
}
