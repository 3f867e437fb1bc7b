package main

import (
	"github.com/spf13/cobra"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/node"
)

func newNodeCmd() *cobra.Command {
	var (
		root        string
		config      string
		kubeVersion string
		rep         reportFlags
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Audit a node's files: modes and owners (CIS 1.1.x, 4.1.x), then the flag checks on its manifests and kubelet config",
		Long: "Check the modes and owners of the static Pod manifests, kubeconfigs, PKI, etcd data\n" +
			"directory and kubelet files under --root (the node's /, or a snapshot of it), then run\n" +
			"the control-plane and kubelet flag checks on the static Pod manifests, kubelet config\n" +
			"and kubelet flag files found there. Exit codes as for check: 0 pass, 1 findings at or\n" +
			"above failOn, 2 usage, policy or input error.",
		Example: "  sudo kubegate node\n  kubegate node --root /mnt/node-snapshot --format json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := inputFlags{config: config, kubeVersion: kubeVersion}
			p, err := in.loadPolicy()
			if err != nil {
				return err
			}
			if err := rep.apply(p); err != nil {
				return err
			}
			return rep.write(cmd, gate.RunNode(root, node.OSStat, gate.Options{Render: in.render, Policy: p}))
		},
	}
	cmd.Flags().StringVar(&root, "root", "/", "the node's root directory")
	cmd.Flags().StringVar(&config, "config", "", "policy file (default: kubegate.yaml in the working directory, if any)")
	cmd.Flags().StringVar(&kubeVersion, "kube-version", "", "target Kubernetes version, e.g. 1.37 (overrides the policy's kubernetesVersion)")
	rep.register(cmd.Flags())
	return cmd
}
