//go:build tools

// Keeps kube-apiserver's main package in this module's build list.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
