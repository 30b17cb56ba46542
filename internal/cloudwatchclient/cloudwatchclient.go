// Package cloudwatchclient builds the CloudWatch client of every tool that
// calls CloudWatch, so that it works against AWS and against emulators.
//
// The SDK speaks Smithy RPC v2 CBOR to CloudWatch, which AWS serves but
// emulators such as moto do not (moto 5.2 serves AWS JSON 1.0 and AWS Query;
// it answers a CBOR request with an HTML 404 page, which the SDK reports as
// "deserialization failed ... unexpected minor value 28"). CloudWatch
// serves AWS JSON 1.0 as well, so when an endpoint override is set
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_CLOUDWATCH or endpoint_url in the
// shared config) the client speaks AWS JSON 1.0; without one it is the
// SDK's client as it comes.
package cloudwatchclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// New returns the CloudWatch client for cfg.
func New(cfg aws.Config, optFns ...func(*cloudwatch.Options)) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cfg, append([]func(*cloudwatch.Options){forEndpoint}, optFns...)...)
}

// forEndpoint switches a client with an endpoint override to AWS JSON 1.0.
// NewFromConfig has resolved BaseEndpoint from the configuration and the
// environment by the time options functions run.
func forEndpoint(o *cloudwatch.Options) {
	if o.BaseEndpoint == nil {
		return
	}
	o.Protocol = awsjson.New10(schemas.GraniteServiceVersion20100801)
	endpoint := *o.BaseEndpoint
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Deserialize.Add(explainUnsupported(endpoint), middleware.Before)
	})
}

// UnsupportedError is a response from an endpoint override that is not AWS
// JSON 1.0: the endpoint does not serve CloudWatch in that protocol.
type UnsupportedError struct {
	Endpoint string
	Err      error
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s does not serve CloudWatch's AWS JSON 1.0 protocol, which mlship uses with an endpoint override (docs/emulators.md lists the emulators that do): %v", e.Endpoint, e.Err)
}

func (e *UnsupportedError) Unwrap() error { return e.Err }

// explainUnsupported turns a response the JSON protocol cannot read into an
// UnsupportedError naming the endpoint.
func explainUnsupported(endpoint string) middleware.DeserializeMiddleware {
	return middleware.DeserializeMiddlewareFunc("mlshipCloudWatchProtocol", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleDeserialize(ctx, in)
		var de *smithy.DeserializationError
		if errors.As(err, &de) {
			err = &UnsupportedError{Endpoint: endpoint, Err: err}
		}
		return out, md, err
	})
}
