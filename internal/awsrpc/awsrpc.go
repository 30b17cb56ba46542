// Package awsrpc calls AWS services that speak AWS JSON (1.0 or 1.1) with
// the SDK's core pieces: the loaded configuration's credentials, HTTP
// client, retry mode and endpoint settings, and its Signature V4 signer.
//
// It stands in for the SDK's service packages where a tool makes one or
// two calls to a service: each of those packages builds tables of every
// shape of its service at package initialisation (SSM's 1.4 MB,
// CloudWatch's 0.4 MB), which every run of the tool pays, at start-up,
// whether or not it makes the call.
package awsrpc

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mlship/mlship/internal/version"
	"github.com/mlship/mlship/internal/wait"
)

// Service describes one AWS JSON service.
type Service struct {
	// ID is the SDK's service ID, which names the service's endpoint
	// settings: AWS_ENDPOINT_URL_<ID, upper case, spaces as _> and the
	// shared config's services section ("SSM", "CloudWatch").
	ID string
	// EndpointPrefix is the first label of the service's host names
	// ("ssm", "monitoring"); FIPS endpoints add -fips.
	EndpointPrefix string
	// SigningName is the Signature V4 service name.
	SigningName string
	// Target is the X-Amz-Target prefix ("AmazonSSM").
	Target string
	// JSONVersion is "1.0" or "1.1".
	JSONVersion string
	// QueryCompatible services (CloudWatch) answer errors with their
	// AWS Query code in X-Amzn-Query-Error, which is the code the SDK
	// reports.
	QueryCompatible bool
	// MaxResponse bounds what is read of an answer.
	MaxResponse int64
}

// Client calls one service.
type Client struct {
	svc       Service
	cfg       aws.Config
	endpoint  string
	retryer   aws.RetryerV2
	signer    *v4.Signer
	http      aws.HTTPClient
	userAgent string
}

// New returns the client of svc for cfg (loaded by awsconfig), calling as
// tool (mlship-<tool>/<version> in the User-Agent).
func New(ctx context.Context, cfg aws.Config, svc Service, tool string) (*Client, error) {
	endpoint, err := ResolveEndpoint(ctx, cfg, svc, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	c := &Client{svc: svc, cfg: cfg, endpoint: endpoint, signer: v4.NewSigner(), http: cfg.HTTPClient,
		userAgent: "mlship-" + tool + "/" + version.String()}
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

// Endpoint is where the client's calls go.
func (c *Client) Endpoint() string { return c.endpoint }

// wrapRetryer is a Retryer without GetAttemptToken, as the SDK wraps one.
type wrapRetryer struct{ aws.Retryer }

func (w wrapRetryer) GetAttemptToken(context.Context) (func(error) error, error) {
	return w.GetInitialToken(), nil
}

// ResolveEndpoint is where svc's calls go, decided as the SDK's client of
// svc decides it: the configuration's endpoint override (AWS_ENDPOINT_URL,
// endpoint_url), unless AWS_ENDPOINT_URL_<ID> or the shared config's
// services section names one for the service; else the service's endpoint
// in the region's partition, FIPS and dual-stack as configured.
func ResolveEndpoint(ctx context.Context, cfg aws.Config, svc Service, lookupEnv func(string) (string, bool)) (string, error) {
	base := aws.ToString(cfg.BaseEndpoint)
	_, global := lookupEnv("AWS_ENDPOINT_URL")
	_, service := lookupEnv("AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(svc.ID, " ", "_")))
	if !global || service {
		for _, src := range cfg.ConfigSources {
			p, ok := src.(interface {
				GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
			})
			if !ok {
				continue
			}
			if v, found, err := p.GetServiceBaseEndpoint(ctx, svc.ID); err == nil && found {
				base = v
				break
			}
		}
	}
	if base != "" {
		return strings.TrimRight(base, "/"), nil
	}
	if cfg.Region == "" {
		return "", fmt.Errorf("no AWS region for %s", svc.ID)
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
	return RegionEndpoint(svc.EndpointPrefix, cfg.Region, fips, dualStack), nil
}

// RegionEndpoint is the endpoint of the service whose host names start
// with prefix in region, by its partition: the DNS suffixes of the SDK's
// partitions file, as the SSM and CloudWatch endpoint rules use them.
func RegionEndpoint(prefix, region string, fips, dualStack bool) string {
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
	if fips {
		prefix += "-fips"
	}
	if dualStack {
		suffix = dualSuffix
	}
	return "https://" + prefix + "." + region + "." + suffix
}

// Error is an error a service answered with: its code
// (ParameterNotFound, ThrottlingException, ...) and message, the HTTP
// status (for the retryer) and the request ID. It reads as the SDK's
// errors read.
type Error struct {
	smithy.GenericAPIError
	Service, Action string
	StatusCode      int
	RequestID       string
}

func (e *Error) HTTPStatusCode() int { return e.StatusCode }

func (e *Error) Error() string {
	return fmt.Sprintf("operation error %s: %s, https response error StatusCode: %d, RequestID: %s, %s",
		e.Service, e.Action, e.StatusCode, e.RequestID, e.GenericAPIError.Error())
}

// Call sends one action with in (marshalled as JSON) and reads the answer
// into out (nil: the answer is not read), retried as the configuration's
// retryer says.
func (c *Client) Call(ctx context.Context, action string, in, out any) error {
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

func (c *Client) send(ctx context.Context, action string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+c.svc.JSONVersion)
	req.Header.Set("X-Amz-Target", c.svc.Target+"."+action)
	if c.svc.QueryCompatible {
		req.Header.Set("X-Amzn-Query-Mode", "true")
	}
	req.Header.Set("User-Agent", c.userAgent)
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("getting AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), c.svc.SigningName, c.cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// As the SDK wraps it, so that the retryer takes it for a
		// connection error.
		return fmt.Errorf("operation error %s: %s, %w", c.svc.ID, action, &smithyhttp.RequestSendError{Err: err})
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.svc.MaxResponse))
	if err != nil {
		return fmt.Errorf("operation error %s: %s, reading the answer: %w", c.svc.ID, action, err)
	}
	if resp.StatusCode >= 300 {
		return c.decodeError(action, resp, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("reading %s's answer to %s: %w", c.svc.ID, action, err)
	}
	return nil
}

// decodeError reads an AWS JSON error: the code from X-Amzn-ErrorType or
// __type (without its namespace), or X-Amzn-Query-Error's for a
// query-compatible service; the message from message or Message.
func (c *Client) decodeError(action string, resp *http.Response, b []byte) error {
	var body struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	notJSON := json.Unmarshal(b, &body) != nil
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
	fault := smithy.FaultClient
	if resp.StatusCode >= 500 {
		fault = smithy.FaultServer
	}
	if c.svc.QueryCompatible {
		if q, f, ok := strings.Cut(resp.Header.Get("X-Amzn-Query-Error"), ";"); ok && q != "" {
			code = q
			switch f {
			case "Sender":
				fault = smithy.FaultClient
			case "Receiver":
				fault = smithy.FaultServer
			}
		}
	}
	if code == "" {
		code = http.StatusText(resp.StatusCode)
	}
	msg := body.Message
	if msg == "" {
		msg = body.MessageU
	}
	if notJSON && code == http.StatusText(resp.StatusCode) {
		// An HTML 404 and the like: an endpoint override that is not the
		// service, or an emulator that does not serve this protocol.
		msg = fmt.Sprintf("%s does not answer %s in AWS JSON %s (HTTP %d, %s); an emulator must serve that protocol (docs/emulators.md)",
			c.endpoint, c.svc.ID, c.svc.JSONVersion, resp.StatusCode, cmp.Or(resp.Header.Get("Content-Type"), "no content type"))
	}
	return &Error{
		GenericAPIError: smithy.GenericAPIError{Code: code, Message: msg, Fault: fault},
		Service:         c.svc.ID, Action: action, StatusCode: resp.StatusCode,
		RequestID: resp.Header.Get("X-Amzn-Requestid"),
	}
}
