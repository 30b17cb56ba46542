package ecrref_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/mlship/mlship/internal/ecrref"
)

func TestParseHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host                string
		account, region     string
		fips, dualStack, ok bool
	}{
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012", "us-east-1", false, false, true},
		{"123456789012.DKR.ECR.EU-WEST-1.AMAZONAWS.COM", "123456789012", "eu-west-1", false, false, true},
		{"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "123456789012", "us-gov-west-1", true, false, true},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "123456789012", "cn-north-1", false, false, true},
		{"123456789012.dkr-ecr.us-east-1.on.aws", "123456789012", "us-east-1", false, true, true},
		{"123456789012.dkr-ecr-fips.us-east-2.on.aws", "123456789012", "us-east-2", true, true, true},
		{"123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", "123456789012", "cn-northwest-1", false, true, true},
		{"123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", "123456789012", "us-iso-east-1", false, false, true},
		{"12345678901.dkr.ecr.us-east-1.amazonaws.com", "", "", false, false, false},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", "", "", false, false, false},
		{"public.ecr.aws", "", "", false, false, false},
		{"ghcr.io", "", "", false, false, false},
		{"localhost:5000", "", "", false, false, false},
		{"123456789012.dkr.ecr.useast1.amazonaws.com", "", "", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			h, ok := ecrref.ParseHost(tt.host)
			if ok != tt.ok || h.Account != tt.account || h.Region != tt.region || h.FIPS != tt.fips || h.DualStack != tt.dualStack {
				t.Errorf("ParseHost = %+v, %t", h, ok)
			}
			if ok && h.Name != strings.ToLower(tt.host) {
				t.Errorf("Name = %q", h.Name)
			}
		})
	}
}

func TestParseImage(t *testing.T) {
	t.Parallel()
	const host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	digest := "sha256:" + strings.Repeat("ab", 32)
	good := []struct {
		ref             string
		repo, tag, dgst string
		str             string
	}{
		{host + "/pricing:v42", "pricing", "v42", "", host + "/pricing:v42"},
		{host + "/team/credit-model:build-7-abc1234", "team/credit-model", "build-7-abc1234", "", host + "/team/credit-model:build-7-abc1234"},
		{host + "/pricing@" + digest, "pricing", "", digest, host + "/pricing@" + digest},
		{host + "/pricing:v1@" + digest, "pricing", "v1", digest, host + "/pricing@" + digest},
		{"123456789012.dkr-ecr.us-east-1.on.aws/pricing:v1", "pricing", "v1", "", "123456789012.dkr-ecr.us-east-1.on.aws/pricing:v1"},
	}
	for _, tt := range good {
		img, err := ecrref.ParseImage(tt.ref)
		if err != nil || img.Repository != tt.repo || img.Tag != tt.tag || img.Digest != tt.dgst || img.String() != tt.str {
			t.Errorf("ParseImage(%q) = %+v (%s), %v", tt.ref, img, img.String(), err)
		}
	}
	bad := map[string]string{
		host + "/pricing":               "give a tag",
		"docker.io/library/python:3.12": "not in an ECR private registry",
		host + "/Pricing:v1":            "not a valid ECR repository name",
		host + "/pricing:bad tag":       "not a valid tag",
		host + "/pricing@sha256:abc":    "is not sha256:<64 hex digits>",
		host:                            "is not an ECR image",
		host + "/pricing:" + strings.Repeat("x", 129): "not a valid tag",
	}
	for ref, want := range bad {
		if _, err := ecrref.ParseImage(ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseImage(%q) = %v, want an error containing %q", ref, err, want)
		}
	}
	img, _ := ecrref.ParseImage(host + "/pricing:v42")
	if got := img.ByDigest(digest); got.String() != host+"/pricing@"+digest || got.Tag != "v42" {
		t.Errorf("ByDigest = %+v", got)
	}
}

func TestParseRepository(t *testing.T) {
	t.Parallel()
	h, repo, err := ecrref.ParseRepository("123456789012.dkr.ecr.eu-central-1.amazonaws.com/models/credit")
	if err != nil || h.Region != "eu-central-1" || repo != "models/credit" {
		t.Errorf("ParseRepository = %+v %q %v", h, repo, err)
	}
	for _, bad := range []string{"models/credit", "123456789012.dkr.ecr.eu-central-1.amazonaws.com/", "ghcr.io/x/y"} {
		if _, _, err := ecrref.ParseRepository(bad); err == nil {
			t.Errorf("ParseRepository(%q) accepted", bad)
		}
	}
}

type authAPI struct {
	out *ecr.GetAuthorizationTokenOutput
	err error
	in  *ecr.GetAuthorizationTokenInput
}

func (a *authAPI) GetAuthorizationToken(_ context.Context, in *ecr.GetAuthorizationTokenInput, _ ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	a.in = in
	return a.out, a.err
}

func TestLogin(t *testing.T) {
	t.Parallel()
	token := base64.StdEncoding.EncodeToString([]byte("AWS:pa55word"))
	exp := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	api := &authAPI{out: &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{
		AuthorizationToken: aws.String(token), ExpiresAt: aws.Time(exp),
		ProxyEndpoint: aws.String("https://123456789012.dkr.ecr.us-east-1.amazonaws.com"),
	}}}}
	var masked []string
	c, err := ecrref.Login(context.Background(), api, "123456789012", func(s string) { masked = append(masked, s) })
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "AWS" || c.Password != "pa55word" || c.Endpoint != "123456789012.dkr.ecr.us-east-1.amazonaws.com" || !c.Expires.Equal(exp) {
		t.Errorf("credentials = %+v", c)
	}
	if len(masked) != 2 || masked[0] != token || masked[1] != "pa55word" {
		t.Errorf("masked %q, want the token and the password", masked)
	}
	if len(api.in.RegistryIds) != 1 || api.in.RegistryIds[0] != "123456789012" {
		t.Errorf("asked for registries %q", api.in.RegistryIds)
	}

	for name, api := range map[string]*authAPI{
		"api error":  {err: errors.New("AccessDeniedException: no")},
		"no data":    {out: &ecr.GetAuthorizationTokenOutput{}},
		"not base64": {out: &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{AuthorizationToken: aws.String("!!")}}}},
		"no colon":   {out: &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{AuthorizationToken: aws.String(base64.StdEncoding.EncodeToString([]byte("AWS")))}}}},
	} {
		if _, err := ecrref.Login(context.Background(), api, "", func(string) {}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestValidTag(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string]bool{
		"v1": true, "build-42-abc1234": true, "_x": true, "1.0.7": true, "A_b.c-d": true, strings.Repeat("x", 128): true,
		"": false, ".v1": false, "-v1": false, "v 1": false, "v/1": false, "v:1": false, "vé": false, strings.Repeat("x", 129): false,
	} {
		if got := ecrref.ValidTag(tag); got != want {
			t.Errorf("ValidTag(%q) = %t", tag, got)
		}
	}
}
