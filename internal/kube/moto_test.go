package kube_test

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

var (
	motoOnce sync.Once
	motoURL  string
	motoErr  error
	motoCmd  *exec.Cmd
)

// moto returns the URL of a moto_server (an AWS emulator) shared by this
// test binary, skipping t when moto is not installed.
func moto(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Skip("SKIPPED, not passed: moto_server is not installed (pip install 'moto[server]')")
	}
	motoOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			motoErr = err
			return
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		motoCmd = exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		if motoErr = motoCmd.Start(); motoErr != nil {
			return
		}
		motoURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		// moto takes a second or two to import its services; wait for it
		// to answer, with backoff.
		deadline := time.Now().Add(60 * time.Second)
		for d := 50 * time.Millisecond; ; d = min(2*d, time.Second) {
			resp, err := http.Get(motoURL + "/moto-api/")
			if err == nil {
				resp.Body.Close()
				return
			}
			if time.Now().After(deadline) {
				motoErr = fmt.Errorf("moto_server did not answer on %s: %v", motoURL, err)
				return
			}
			time.Sleep(d)
		}
	})
	if motoErr != nil {
		t.Fatalf("starting moto_server: %v", motoErr)
	}
	return motoURL
}

func stopMoto() {
	if motoCmd != nil && motoCmd.Process != nil {
		_ = motoCmd.Process.Kill()
		_ = motoCmd.Wait()
	}
}

// awsConfig is an AWS configuration with static test credentials.
func awsConfig(region string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
	}
}
