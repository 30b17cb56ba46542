//go:build tools

// Package deps pins the modules the tools being written next build on
// (model-staleness, eks-rollout, health-rollback), so that they are added to
// go.mod once, at versions that compile together. A tool that imports one
// of them makes its line here unnecessary; the file goes when all do.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/service/eks"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/kubernetes/fake"
	_ "k8s.io/kubectl/pkg/polymorphichelpers"
)
