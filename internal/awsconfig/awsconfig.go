// Package awsconfig is the one way every tool loads its AWS configuration:
// the default credential chain, the region from --region or the
// environment, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (LocalStack
// and other emulators), adaptive retries with backoff and jitter, and a user
// agent naming the tool and its version.
package awsconfig

import (
	"context"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/version"
)

// MaxAttempts is how many times a throttled or failed call is tried.
const MaxAttempts = 6

// RegionFlag is the --region flag every AWS tool takes.
func RegionFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "region",
		Usage: "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the shared config)",
	}
}

// regionName is the form of every AWS region name: us-east-1,
// us-gov-west-1, cn-northwest-1, eu-isoe-west-1.
var regionName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`) })

// CheckRegion reports a --region value that is not an AWS region name as
// bad input; empty is fine (the environment or shared config decides).
// Tools call it in their Validate, so a bad region stops a run before any
// other work.
func CheckRegion(region string) error {
	if region != "" && !regionName().MatchString(region) {
		return exitcode.BadInputf("--region %q: not an AWS region name (such as us-east-1)", region)
	}
	return nil
}

// Load returns the AWS configuration for tool. region overrides the
// environment and shared config when not empty. A missing region is bad
// input (exit 2): nothing can be called without one.
func Load(ctx context.Context, tool, region string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryMode(aws.RetryModeAdaptive),
		config.WithRetryMaxAttempts(MaxAttempts),
		config.WithAPIOptions([]func(*middleware.Stack) error{
			awsmiddleware.AddUserAgentKeyValue("mlship-"+tool, version.String()),
		}),
	}
	if err := CheckRegion(region); err != nil {
		return aws.Config{}, err
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, exitcode.BadInputf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, exitcode.BadInputf("no AWS region: set --region or AWS_REGION")
	}
	if !regionName().MatchString(cfg.Region) {
		return aws.Config{}, exitcode.BadInputf("AWS region %q (from AWS_REGION, AWS_DEFAULT_REGION or the shared config): not an AWS region name (such as us-east-1)", cfg.Region)
	}
	return cfg, nil
}
