package kube_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/mlship/mlship/internal/kube"
)

// decodeToken returns the presigned URL inside an EKS token.
func decodeToken(t *testing.T, tok string) *url.URL {
	t.Helper()
	const prefix = "k8s-aws-v1."
	if !strings.HasPrefix(tok, prefix) {
		t.Fatalf("token %q does not start with %s", tok, prefix)
	}
	b64 := strings.TrimPrefix(tok, prefix)
	if strings.ContainsAny(b64, "=+/") {
		t.Errorf("token is not base64url without padding: %q", b64)
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("token body: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatalf("token URL: %v", err)
	}
	return u
}

// TestEKSTokenIsAPresignedGetCallerIdentity checks the token against what
// STS presigning produces: the regional STS host, GetCallerIdentity,
// X-Amz-Expires=60, x-k8s-aws-id among the signed headers, and a
// signature that the SigV4 signer computes again for the same request with
// the cluster's header.
func TestEKSTokenIsAPresignedGetCallerIdentity(t *testing.T) {
	t.Parallel()
	cfg := awsConfig("eu-west-1")
	p := sts.NewPresignClient(sts.NewFromConfig(cfg))
	now := time.Now()
	tok, exp, err := kube.EKSToken(context.Background(), p, "retail-prod", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(15 * time.Minute); !exp.Equal(want) {
		t.Errorf("expires %v, want %v (15 minutes)", exp, want)
	}
	u := decodeToken(t, tok)
	q := u.Query()
	if u.Scheme != "https" || u.Host != "sts.eu-west-1.amazonaws.com" || (u.Path != "/" && u.Path != "") {
		t.Errorf("URL %s, want https://sts.eu-west-1.amazonaws.com/", u)
	}
	for k, want := range map[string]string{
		"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Expires": "60", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := q.Get("X-Amz-SignedHeaders"); got != "host;x-k8s-aws-id" {
		t.Errorf("X-Amz-SignedHeaders = %q, want host;x-k8s-aws-id", got)
	}
	if cred := q.Get("X-Amz-Credential"); !strings.HasPrefix(cred, "AKIAIOSFODNN7EXAMPLE/") || !strings.HasSuffix(cred, "/eu-west-1/sts/aws4_request") {
		t.Errorf("X-Amz-Credential = %q", cred)
	}

	// Sign the same request again, independently.
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date: %v", err)
	}
	bare := url.Values{}
	for k, v := range q {
		if !strings.HasPrefix(k, "X-Amz-") || k == "X-Amz-Expires" {
			bare[k] = v
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "https://sts.eu-west-1.amazonaws.com/?"+bare.Encode(), nil)
	req.Header.Set("x-k8s-aws-id", "retail-prod")
	creds, _ := cfg.Credentials.Retrieve(context.Background())
	emptyHash := sha256.Sum256(nil)
	again, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hex.EncodeToString(emptyHash[:]), "sts", "eu-west-1", signed)
	if err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(again)
	if got, want := q.Get("X-Amz-Signature"), au.Query().Get("X-Amz-Signature"); got == "" || got != want {
		t.Errorf("signature %q, the signer computes %q for GetCallerIdentity with x-k8s-aws-id: retail-prod", got, want)
	}

	// Another cluster's header makes another signature: the token is good
	// for this cluster only.
	other, _, _ := kube.EKSToken(context.Background(), p, "retail-staging", now)
	if decodeToken(t, other).Query().Get("X-Amz-Signature") == q.Get("X-Amz-Signature") && decodeToken(t, other).Query().Get("X-Amz-Date") == q.Get("X-Amz-Date") {
		t.Error("the signature does not depend on the cluster")
	}
}

// countingPresigner counts the tokens signed.
type countingPresigner struct {
	kube.Presigner
	n atomic.Int32
}

func (c *countingPresigner) PresignGetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	c.n.Add(1)
	return c.Presigner.PresignGetCallerIdentity(ctx, in, opts...)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestTokenSourceRefreshes: a wait longer than a token's 15 minutes keeps
// working, since the token is signed again before it runs out; the API
// server refusing a token also has the next request sign a new one.
func TestTokenSourceRefreshes(t *testing.T) {
	t.Parallel()
	p := &countingPresigner{Presigner: sts.NewPresignClient(sts.NewFromConfig(awsConfig("us-east-1")))}
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	src := kube.NewTokenSource(p, "retail-prod", clock.Now)

	var seen []string
	var mu sync.Mutex
	refuse := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if refuse.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	client := &http.Client{Transport: src.WrapTransport(http.DefaultTransport)}
	call := func() {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	call()
	clock.Add(13 * time.Minute)
	call()
	if n := p.n.Load(); n != 1 {
		t.Errorf("after 13 minutes: %d tokens signed, want the first one still used", n)
	}
	clock.Add(90 * time.Second) // 14m30s: less than a minute left
	call()
	if n := p.n.Load(); n != 2 {
		t.Errorf("after 14m30s: %d tokens signed, want a new one", n)
	}
	refuse.Store(true)
	call()
	refuse.Store(false)
	call()
	if n := p.n.Load(); n != 3 {
		t.Errorf("after a 401: %d tokens signed, want a new one", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, h := range seen {
		if !strings.HasPrefix(h, "Bearer k8s-aws-v1.") {
			t.Errorf("request %d: Authorization %q, want Bearer k8s-aws-v1....", i, h)
		}
	}
}
