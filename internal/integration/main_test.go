//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/awsconfig"
)

// The account and region moto answers for.
const (
	account = "123456789012"
	region  = "us-east-1"
	// registryHost is moto's ECR registry (ECR API only: moto does not
	// serve the registry protocol at it).
	registryHost = account + ".dkr.ecr." + region + ".amazonaws.com"
)

// requireEnv makes a missing moto_server a failure instead of a skip
// (`make integration` in CI sets it).
const requireEnv = "MLSHIP_REQUIRE_MOTO"

var (
	moto *Moto
	// unavailable says why moto is not running, when it is not.
	unavailable string
)

// TestMain starts one moto_server for the suite and points the SDK of every
// tool run in this process at it. The tools read AWS settings from the
// process environment, so they are set here, once, before any test.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		unavailable = "moto_server is not installed (pip install 'moto[server]'); the integration suite needs it"
		return m.Run()
	}
	home, err := os.MkdirTemp("", "mlship-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(home)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// MOTO_LAMBDA_STUB_ECR=false: Lambda resolves a function's image in
	// moto's ECR (a missing image is refused and CodeSha256 is the image
	// digest), as Lambda does.
	motoEnv := append(os.Environ(), "MOTO_LAMBDA_STUB_ECR=false")
	moto, err = StartMoto(ctx, bin, motoEnv)
	if err != nil {
		unavailable = err.Error()
		return m.Run()
	}
	defer moto.Stop()
	// No Docker here: moto's Lambda without Docker answers an invocation
	// with its payload instead of running the function's code.
	if err := moto.Post(ctx, "/moto-api/config", []byte(`{"lambda": {"use_docker": false}}`)); err != nil {
		unavailable = "configuring moto: " + err.Error()
		return m.Run()
	}

	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			os.Unsetenv(k)
		}
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            moto.URL,
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_REGION":                  region,
		"AWS_CONFIG_FILE":             home + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": home + "/credentials",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "moto_server's last output:\n%s\n", tail(moto.Output(), 40))
	}
	return code
}

// needMoto skips the test when moto is not running, or fails it when
// MLSHIP_REQUIRE_MOTO=1.
func needMoto(t *testing.T) {
	t.Helper()
	if moto != nil && unavailable == "" {
		return
	}
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("%s; %s=1 makes that a failure", unavailable, requireEnv)
	}
	t.Skip(unavailable)
}

// awsConfig is the configuration the tools load, for the test's own calls
// to moto (setting up and checking).
func awsConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := awsconfig.Load(context.Background(), "integration-test", "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// unique returns prefix with a random suffix: the tests share one moto.
func unique(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
