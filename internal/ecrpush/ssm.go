package ecrpush

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/version"
	"github.com/mlship/mlship/internal/wait"
)

// SSMAPI is the part of SSM ecr-push calls: read a String parameter and
// write one.
type SSMAPI interface {
	// GetParameter returns the parameter's value; found is false when
	// there is no such parameter (ParameterNotFound).
	GetParameter(ctx context.Context, name string) (value string, found bool, err error)
	// PutParameter writes value: it creates a String parameter, or
	// overwrites an existing one when overwrite is true.
	PutParameter(ctx context.Context, name, value string, overwrite bool) error
}

// ssmClient calls SSM's GetParameter and PutParameter over SSM's JSON 1.1
// protocol with the SDK's pieces: the loaded configuration's credentials,
// HTTP client, retry mode and endpoint settings, and its Signature V4
// signer. It stands in for github.com/aws/aws-sdk-go-v2/service/ssm, whose
// package initialisation (its tables of every SSM shape) costs every run of
// ecr-push about 5 ms of CPU, more than half of its start-up, for two calls
// most runs never make.
type ssmClient struct {
	cfg      aws.Config
	endpoint string
	retryer  aws.RetryerV2
	signer   *v4.Signer
	http     aws.HTTPClient
}

// newSSM returns the SSM client for cfg (already loaded by awsconfig).
func newSSM(ctx context.Context, cfg aws.Config) (*ssmClient, error) {
	endpoint, err := ssmEndpoint(ctx, cfg, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	c := &ssmClient{cfg: cfg, endpoint: endpoint, signer: v4.NewSigner(), http: cfg.HTTPClient}
	if c.http == nil {
		c.http = awshttp.NewBuildableClient()
	}
	var r aws.Retryer
	switch {
	case cfg.Retryer != nil:
		r = cfg.Retryer()
	case cfg.RetryMode == aws.RetryModeAdaptive:
		r = retry.NewAdaptiveMode()
	default:
		r = retry.NewStandard()
	}
	if cfg.RetryMaxAttempts > 0 {
		r = retry.AddWithMaxAttempts(r, cfg.RetryMaxAttempts)
	}
	if v2, ok := r.(aws.RetryerV2); ok {
		c.retryer = v2
	} else {
		c.retryer = wrapRetryer{r}
	}
	return c, nil
}

// wrapRetryer is a Retryer without GetAttemptToken, as the SDK wraps one.
type wrapRetryer struct{ aws.Retryer }

func (w wrapRetryer) GetAttemptToken(context.Context) (func(error) error, error) {
	return w.GetInitialToken(), nil
}

// ssmEndpoint is where SSM calls go, decided as the SDK's SSM client
// decides it: the configuration's endpoint override (AWS_ENDPOINT_URL,
// endpoint_url), unless AWS_ENDPOINT_URL_SSM or the shared config's
// services section names one for SSM; else SSM's endpoint in the region's
// partition, FIPS and dual-stack as configured.
func ssmEndpoint(ctx context.Context, cfg aws.Config, lookupEnv func(string) (string, bool)) (string, error) {
	base := aws.ToString(cfg.BaseEndpoint)
	_, global := lookupEnv("AWS_ENDPOINT_URL")
	_, service := lookupEnv("AWS_ENDPOINT_URL_SSM")
	if !global || service {
		for _, src := range cfg.ConfigSources {
			p, ok := src.(interface {
				GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
			})
			if !ok {
				continue
			}
			if v, found, err := p.GetServiceBaseEndpoint(ctx, "SSM"); err == nil && found {
				base = v
				break
			}
		}
	}
	if base != "" {
		return strings.TrimRight(base, "/"), nil
	}
	if cfg.Region == "" {
		return "", fmt.Errorf("no AWS region for SSM")
	}
	var fips, dualStack bool
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(interface {
			GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error)
		}); ok && !fips {
			if v, found, err := p.GetUseFIPSEndpoint(ctx); err == nil && found {
				fips = v == aws.FIPSEndpointStateEnabled
			}
		}
		if p, ok := src.(interface {
			GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error)
		}); ok && !dualStack {
			if v, found, err := p.GetUseDualStackEndpoint(ctx); err == nil && found {
				dualStack = v == aws.DualStackEndpointStateEnabled
			}
		}
	}
	return ssmRegionEndpoint(cfg.Region, fips, dualStack), nil
}

// ssmRegionEndpoint is SSM's endpoint in region, by its partition: the
// DNS suffixes of the SDK's partitions file.
func ssmRegionEndpoint(region string, fips, dualStack bool) string {
	suffix, dualSuffix := "amazonaws.com", "api.aws"
	switch {
	case strings.HasPrefix(region, "cn-"):
		suffix, dualSuffix = "amazonaws.com.cn", "api.amazonwebservices.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		suffix, dualSuffix = "sc2s.sgov.gov", "api.aws.scloud"
	case strings.HasPrefix(region, "us-isof-"), strings.HasPrefix(region, "eu-isof-"):
		suffix, dualSuffix = "csp.hci.ic.gov", "api.aws.hci.ic.gov"
	case strings.HasPrefix(region, "eu-isoe-"):
		suffix, dualSuffix = "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"
	case strings.HasPrefix(region, "us-iso-"):
		suffix, dualSuffix = "c2s.ic.gov", "api.aws.ic.gov"
	}
	svc := "ssm"
	if fips {
		svc = "ssm-fips"
	}
	if dualStack {
		suffix = dualSuffix
	}
	return "https://" + svc + "." + region + "." + suffix
}

// ssmError is an error SSM answered with: its code (ParameterNotFound,
// ThrottlingException, ...) and message, and the HTTP status, for the
// retryer.
type ssmError struct {
	smithy.GenericAPIError
	status int
}

func (e *ssmError) HTTPStatusCode() int { return e.status }

// maxSSMResponse bounds what is read of an answer: a parameter value is at
// most 8 KB.
const maxSSMResponse = 1 << 20

func (c *ssmClient) GetParameter(ctx context.Context, name string) (string, bool, error) {
	var out struct {
		Parameter struct{ Value *string }
	}
	err := c.call(ctx, "GetParameter", map[string]any{"Name": name}, &out)
	var api smithy.APIError
	switch {
	case errors.As(err, &api) && api.ErrorCode() == "ParameterNotFound":
		return "", false, nil
	case err != nil:
		return "", false, err
	case out.Parameter.Value == nil:
		return "", false, fmt.Errorf("GetParameter answered without a value")
	}
	return *out.Parameter.Value, true, nil
}

func (c *ssmClient) PutParameter(ctx context.Context, name, value string, overwrite bool) error {
	in := map[string]any{"Name": name, "Value": value, "Overwrite": overwrite}
	if !overwrite {
		in["Type"] = "String"
	}
	return c.call(ctx, "PutParameter", in, nil)
}

// call sends one action, retried as the configuration's retryer says.
func (c *ssmClient) call(ctx context.Context, action string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		release, err := c.retryer.GetAttemptToken(ctx)
		if err != nil {
			return err
		}
		err = c.send(ctx, action, body, out)
		_ = release(err)
		if err == nil || attempt >= c.retryer.MaxAttempts() || !c.retryer.IsErrorRetryable(err) {
			return err
		}
		delay, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return err
		}
		if _, terr := c.retryer.GetRetryToken(ctx, err); terr != nil {
			return err
		}
		if serr := wait.Sleep(ctx, delay); serr != nil {
			return err
		}
	}
}

func (c *ssmClient) send(ctx context.Context, action string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM."+action)
	req.Header.Set("User-Agent", "mlship-ecr-push/"+version.String())
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("getting AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", c.cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSSMResponse))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return decodeSSMError(resp, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("reading SSM's answer to %s: %w", action, err)
	}
	return nil
}

// decodeSSMError reads an AWS JSON error: the code from X-Amzn-ErrorType
// or __type (without its namespace), the message from message or Message.
func decodeSSMError(resp *http.Response, b []byte) error {
	var body struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(b, &body)
	code := resp.Header.Get("X-Amzn-ErrorType")
	if code == "" {
		code = body.Type
	}
	if code == "" {
		code = body.Code
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndex(code, "#"); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = http.StatusText(resp.StatusCode)
	}
	msg := body.Message
	if msg == "" {
		msg = body.MessageU
	}
	fault := smithy.FaultClient
	if resp.StatusCode >= 500 {
		fault = smithy.FaultServer
	}
	return &ssmError{GenericAPIError: smithy.GenericAPIError{Code: code, Message: msg, Fault: fault}, status: resp.StatusCode}
}
