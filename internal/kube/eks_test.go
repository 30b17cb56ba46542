package kube_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

// TestEKSConfigFromMoto describes a cluster created in moto's EKS through
// the SDK: the endpoint and the decoded certificate authority are what the
// client is configured with.
func TestEKSConfigFromMoto(t *testing.T) {
	t.Parallel()
	endpoint := moto(t)
	cfg := awsConfig("us-east-1")
	cfg.BaseEndpoint = &endpoint
	api := eks.NewFromConfig(cfg)
	ctx := context.Background()
	out, err := api.CreateCluster(ctx, &eks.CreateClusterInput{
		Name:               aws.String("retail-moto"),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1"}},
	})
	if err != nil {
		t.Fatalf("creating the cluster in moto: %v", err)
	}
	rc, err := kube.EKSConfig(ctx, api, kube.NewTokenSource(sts.NewPresignClient(sts.NewFromConfig(cfg)), "retail-moto", nil), "retail-moto")
	if err != nil {
		t.Fatalf("EKSConfig: %v", err)
	}
	if rc.Host != aws.ToString(out.Cluster.Endpoint) {
		t.Errorf("host %q, want the cluster's endpoint %q", rc.Host, aws.ToString(out.Cluster.Endpoint))
	}
	want, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Cluster.CertificateAuthority.Data))
	if len(want) == 0 || string(rc.CAData) != string(want) {
		t.Errorf("CA data %q, want the cluster's, decoded (%q)", rc.CAData, want)
	}
	if rc.BearerToken != "" || rc.ExecProvider != nil || rc.WrapTransport == nil {
		t.Errorf("auth: token %q, exec %v, wrap %v; want only the EKS token transport", rc.BearerToken, rc.ExecProvider, rc.WrapTransport != nil)
	}

	_, err = kube.EKSConfig(ctx, api, nil, "no-such-cluster")
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), `--cluster "no-such-cluster"`) {
		t.Errorf("a cluster that does not exist: %v (exit %d), want exit 2 naming --cluster", err, exitcode.Of(err))
	}
}

// fakeEKS serves DescribeCluster the way EKS's REST-JSON API does, with
// its errors.
func fakeEKS(t *testing.T, clusters map[string]string) (*eks.Client, *atomic.Int32) {
	t.Helper()
	var throttled atomic.Int32
	throttled.Store(2) // the first two calls are throttled
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		name, ok := strings.CutPrefix(r.URL.Path, "/clusters/")
		if r.Method != http.MethodGet || !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if throttled.Add(-1) >= 0 {
			w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"message":"Rate exceeded"}`)
			return
		}
		body, ok := clusters[name]
		if !ok {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"No cluster found for name: %s.","clusterName":%q}`, name, name)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	cfg := awsConfig("us-east-1")
	cfg.BaseEndpoint = aws.String(srv.URL)
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 4
			o.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
		})
	}
	return eks.NewFromConfig(cfg), &throttled
}

// TestEKSClientReachesAPIServer builds a client the way --cluster does,
// with no kubeconfig: DescribeCluster (through the SDK, against a fake
// EKS that throttles first) gives the test API server's URL and the
// authority of its certificate, which the client verifies. The API server
// takes only its static tokens, so the EKS token is refused (401, exit 3)
// while the same configuration with an admin token lists namespaces.
func TestEKSClientReachesAPIServer(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Get(t)
	ca, err := os.ReadFile(cluster.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	desc := fmt.Sprintf(`{"cluster":{"name":"retail","status":"ACTIVE","endpoint":%q,"certificateAuthority":{"data":%q}}}`,
		cluster.Server, base64.StdEncoding.EncodeToString(ca))
	api, _ := fakeEKS(t, map[string]string{"retail": desc})
	ctx := context.Background()
	tokens := kube.NewTokenSource(sts.NewPresignClient(sts.NewFromConfig(awsConfig("us-east-1"))), "retail", nil)
	rc, err := kube.EKSConfig(ctx, api, tokens, "retail")
	if err != nil {
		t.Fatalf("EKSConfig (after throttling): %v", err)
	}
	if rc.Insecure {
		t.Fatal("the client skips TLS verification")
	}

	c, err := kube.NewClient(rc, "default", "EKS cluster retail", "mlship-test")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, ref("default", "web"))
	if err == nil || exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "did not accept the credentials") {
		t.Errorf("with the EKS token: %v (exit %d), want the API server's 401 as exit 3", err, exitcode.Of(err))
	}

	admin := rest.CopyConfig(rc)
	admin.WrapTransport = nil
	admin.BearerToken = cluster.Token
	c, err = kube.NewClient(admin, "default", "", "mlship-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kube.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("with the CA from DescribeCluster and an admin token: %v", err)
	}

	// Without the CA the certificate is not trusted.
	untrusted := rest.CopyConfig(admin)
	untrusted.CAData = nil
	c, _ = kube.NewClient(untrusted, "default", "", "mlship-test")
	_, err = c.Kube.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error", err)
	}
}

func TestEKSConfigStates(t *testing.T) {
	t.Parallel()
	ca := base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	api, throttled := fakeEKS(t, map[string]string{
		"creating": `{"cluster":{"name":"creating","status":"CREATING"}}`,
		"failed":   fmt.Sprintf(`{"cluster":{"name":"failed","status":"FAILED","endpoint":"https://x.eks.amazonaws.com","certificateAuthority":{"data":%q}}}`, ca),
		"updating": fmt.Sprintf(`{"cluster":{"name":"updating","status":"UPDATING","endpoint":"https://x.eks.amazonaws.com","certificateAuthority":{"data":%q}}}`, ca),
		"bad-ca":   `{"cluster":{"name":"bad-ca","status":"ACTIVE","endpoint":"https://x.eks.amazonaws.com","certificateAuthority":{"data":"not base64!"}}}`,
	})
	throttled.Store(0)
	tests := []struct {
		cluster string
		code    int
		want    string
	}{
		{"creating", exitcode.Incomplete, "is CREATING and has no API endpoint"},
		{"failed", exitcode.Incomplete, "is FAILED, not ACTIVE"},
		{"updating", exitcode.OK, ""},
		{"bad-ca", exitcode.Incomplete, "not base64"},
		{"missing", exitcode.BadInput, "no such EKS cluster"},
	}
	for _, tt := range tests {
		_, err := kube.EKSConfig(context.Background(), api, nil, tt.cluster)
		if exitcode.Of(err) != tt.code || (tt.want != "" && !strings.Contains(fmt.Sprint(err), tt.want)) {
			t.Errorf("%s: %v (exit %d), want exit %d with %q", tt.cluster, err, exitcode.Of(err), tt.code, tt.want)
		}
	}

	// Throttled past the SDK's retries: could not finish.
	throttled.Store(10)
	_, err := kube.EKSConfig(context.Background(), api, nil, "updating")
	var coded *exitcode.Error
	if !errors.As(err, &coded) || coded.Code != exitcode.Incomplete || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Errorf("throttled: %v, want exit 3 with ThrottlingException", err)
	}
}
