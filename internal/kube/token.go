package kube

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The EKS bearer token, as aws-iam-authenticator and `aws eks get-token`
// make it: a presigned STS GetCallerIdentity URL, signed with the header
// x-k8s-aws-id naming the cluster, base64url without padding after a
// version prefix. EKS calls the URL to learn who is asking.
const (
	tokenPrefix     = "k8s-aws-v1."
	clusterIDHeader = "x-k8s-aws-id"
	// STS accepts a presigned GetCallerIdentity for 15 minutes after its
	// X-Amz-Date whatever X-Amz-Expires says; EKS's verifier still wants
	// X-Amz-Expires present and no more than 60.
	presignExpires = 60
	tokenLifetime  = 15 * time.Minute
	// A token is replaced this long before it runs out, so that no request
	// leaves with a token that expires on the way.
	tokenRefreshMargin = time.Minute
)

// Presigner presigns STS GetCallerIdentity; *sts.PresignClient is one.
type Presigner interface {
	PresignGetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// EKSToken returns a bearer token for cluster, signed by p, and the time
// it stops being accepted.
func EKSToken(ctx context.Context, p Presigner, cluster string, now time.Time) (string, time.Time, error) {
	req, err := p.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, sts.WithAPIOptions(
			smithyhttp.AddHeaderValue(clusterIDHeader, cluster),
			addPresignExpires,
		))
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presigning STS GetCallerIdentity for the EKS token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), now.Add(tokenLifetime), nil
}

// addPresignExpires puts X-Amz-Expires in the query before the request is
// signed (the SDK's presigner leaves it out).
func addPresignExpires(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("mlshipPresignExpires",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				q := req.URL.Query()
				q.Set("X-Amz-Expires", fmt.Sprint(presignExpires))
				req.URL.RawQuery = q.Encode()
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}

// TokenSource hands out EKS tokens for one cluster, signing a new one when
// the last is within a minute of its 15 minutes, so that a long wait keeps
// working.
type TokenSource struct {
	presigner Presigner
	cluster   string
	now       func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewTokenSource returns a TokenSource for cluster. now is the clock (nil:
// time.Now).
func NewTokenSource(p Presigner, cluster string, now func() time.Time) *TokenSource {
	if now == nil {
		now = time.Now
	}
	return &TokenSource{presigner: p, cluster: cluster, now: now}
}

// Token returns a token that is good for at least another minute.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && now.Before(s.expires.Add(-tokenRefreshMargin)) {
		return s.token, nil
	}
	tok, exp, err := EKSToken(ctx, s.presigner, s.cluster, now)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, exp
	return tok, nil
}

// forget drops the cached token if it is still tok, so that the next
// request signs a new one (after the API server refused tok).
func (s *TokenSource) forget(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token = ""
	}
}

// WrapTransport puts a current token on every request (rest.Config's
// WrapTransport).
func (s *TokenSource) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return &tokenTransport{src: s, base: rt}
}

type tokenTransport struct {
	src  *TokenSource
	base http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.src.Token(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		t.src.forget(tok)
	}
	return resp, err
}

// WrappedRoundTripper lets client-go reach the transport underneath.
func (t *tokenTransport) WrappedRoundTripper() http.RoundTripper { return t.base }
