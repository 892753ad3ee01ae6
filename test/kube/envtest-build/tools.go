//go:build tools

// Keeps the main packages of kube-apiserver and kubectl in this module's build list.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
