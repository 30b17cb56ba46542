package kube_test

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/mlship/mlship/internal/integration"
)

var (
	motoOnce sync.Once
	motoSrv  *integration.Moto
	motoErr  error
)

// moto returns the URL of a moto_server (an AWS emulator) shared by this
// test binary. Without moto the test skips, or fails with
// MLSHIP_REQUIRE_MOTO=1.
func moto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("MLSHIP_REQUIRE_MOTO") == "1" {
			t.Fatal("moto_server is not installed, and MLSHIP_REQUIRE_MOTO=1")
		}
		t.Skip("SKIPPED, not passed: moto_server is not installed (pip install 'moto[server]')")
	}
	motoOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		motoSrv, motoErr = integration.StartMoto(ctx, bin, os.Environ())
	})
	if motoErr != nil {
		t.Fatalf("starting moto_server: %v", motoErr)
	}
	return motoSrv.URL
}

func stopMoto() {
	if motoSrv != nil {
		motoSrv.Stop()
	}
}

// awsConfig is an AWS configuration with static test credentials.
func awsConfig(region string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
	}
}
