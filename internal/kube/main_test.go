package kube_test

import (
	"testing"

	"github.com/mlship/mlship/internal/kube/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }
