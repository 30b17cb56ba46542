package kube_test

import (
	"os"
	"testing"

	"github.com/mlship/mlship/internal/kube/kubetest"
)

func TestMain(m *testing.M) {
	code := kubetest.Run(m)
	stopMoto()
	os.Exit(code)
}
