// Package ssmclient reads and writes SSM parameters for the tools that
// make a call or two to SSM (ecr-push records a tag, lambda-deploy reads
// one), over SSM's AWS JSON 1.1 protocol with internal/awsrpc instead of
// github.com/aws/aws-sdk-go-v2/service/ssm, whose package initialisation
// (1.4 MB of tables of every SSM shape) every run of those tools would pay
// at start-up.
package ssmclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/awsrpc"
)

// service is SSM as its SDK client calls it.
var service = awsrpc.Service{
	ID:             "SSM",
	EndpointPrefix: "ssm",
	SigningName:    "ssm",
	Target:         "AmazonSSM",
	JSONVersion:    "1.1",
	// A parameter value is at most 8 KB (advanced tier 8 KB, standard 4).
	MaxResponse: 1 << 20,
}

// Parameter types.
const (
	TypeString       = "String"
	TypeStringList   = "StringList"
	TypeSecureString = "SecureString"
)

// Parameter is a parameter as GetParameter returns it.
type Parameter struct {
	Name    string
	Value   string
	Type    string // String, StringList or SecureString
	Version int64
}

// Client calls SSM.
type Client struct{ c *awsrpc.Client }

// New returns the SSM client for cfg (loaded by awsconfig) of tool.
func New(ctx context.Context, cfg aws.Config, tool string) (*Client, error) {
	c, err := awsrpc.New(ctx, cfg, service, tool)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// GetParameter returns the parameter; found is false when there is no
// such parameter (ParameterNotFound). decrypt asks for a SecureString's
// value in clear (WithDecryption; the caller needs kms:Decrypt on its
// key), else it is returned encrypted.
func (c *Client) GetParameter(ctx context.Context, name string, decrypt bool) (p Parameter, found bool, err error) {
	var out struct {
		Parameter *struct {
			Name    string
			Value   *string
			Type    string
			Version int64
		}
	}
	in := map[string]any{"Name": name}
	if decrypt {
		in["WithDecryption"] = true
	}
	err = c.c.Call(ctx, "GetParameter", in, &out)
	var api smithy.APIError
	switch {
	case errors.As(err, &api) && api.ErrorCode() == "ParameterNotFound":
		return Parameter{}, false, nil
	case err != nil:
		return Parameter{}, false, err
	case out.Parameter == nil || out.Parameter.Value == nil:
		return Parameter{}, false, fmt.Errorf("SSM answered GetParameter %s without a value", name)
	}
	return Parameter{Name: out.Parameter.Name, Value: *out.Parameter.Value, Type: out.Parameter.Type, Version: out.Parameter.Version}, true, nil
}

// PutParameter writes value: it creates a String parameter, or overwrites
// an existing one when overwrite is true.
func (c *Client) PutParameter(ctx context.Context, name, value string, overwrite bool) error {
	in := map[string]any{"Name": name, "Value": value, "Overwrite": overwrite}
	if !overwrite {
		in["Type"] = TypeString
	}
	return c.c.Call(ctx, "PutParameter", in, nil)
}
