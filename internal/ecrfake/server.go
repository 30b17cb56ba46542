package ecrfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/schemas"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// Handler serves the Fake over HTTP with ECR's JSON 1.1 protocol, so that
// a real *ecr.Client talks to it:
//
//	srv := httptest.NewServer(f.Handler())
//	client := ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.BaseEndpoint = aws.String(srv.URL) })
//
// or with AWS_ENDPOINT_URL_ECR=srv.URL for a tool that loads its own
// configuration. Requests are not signature-checked. Errors are written as
// the service writes them ({"__type": ..., "message": ...}, status 400 for
// client faults), so the SDK's retryer retries throttling and the SDK
// returns the same typed errors as against ECR.
func (f *Fake) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		target := req.Header.Get("X-Amz-Target")
		name := strings.TrimPrefix(target, "AmazonEC2ContainerRegistry_V20150921.")
		op, ok := f.ops()[name]
		if req.Method != http.MethodPost || !ok {
			writeError(w, &smithy.GenericAPIError{Code: "UnknownOperationException", Message: fmt.Sprintf("operation %q is not supported by the fake", target), Fault: smithy.FaultClient})
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			writeError(w, &smithy.GenericAPIError{Code: "SerializationException", Message: err.Error(), Fault: smithy.FaultClient})
			return
		}
		out, err := op(req.Context(), body)
		if err != nil {
			writeError(w, err)
			return
		}
		b, err := serialize(out)
		if err != nil {
			writeError(w, &smithy.GenericAPIError{Code: "ServerException", Message: err.Error(), Fault: smithy.FaultServer})
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write(b)
	})
}

type opFunc func(context.Context, []byte) (smithy.Serializable, error)

// call decodes the JSON input (member names match the SDK's field names
// case-insensitively) and runs fn.
func call[I any, O smithy.Serializable](fn func(context.Context, *I, ...func(*ecr.Options)) (O, error)) opFunc {
	return func(ctx context.Context, body []byte) (smithy.Serializable, error) {
		in := new(I)
		if len(body) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, &smithy.GenericAPIError{Code: "SerializationException", Message: err.Error(), Fault: smithy.FaultClient}
			}
		}
		return fn(ctx, in)
	}
}

// extraOps are operations other files of this package serve over HTTP;
// they add to it from init functions.
var extraOps = map[string]func(*Fake) opFunc{}

func (f *Fake) ops() map[string]opFunc {
	ops := map[string]opFunc{
		"CreateRepository":              call(f.CreateRepository),
		"DescribeRepositories":          call(f.DescribeRepositories),
		"PutImageTagMutability":         call(f.PutImageTagMutability),
		"PutImageScanningConfiguration": call(f.PutImageScanningConfiguration),
		"DescribeImages":                call(f.DescribeImages),
		"ListImages":                    call(f.ListImages),
		"BatchGetImage":                 call(f.BatchGetImage),
		"PutImage":                      call(f.PutImage),
		"GetAuthorizationToken":         call(f.GetAuthorizationToken),
		"DescribeImageScanFindings":     call(f.DescribeImageScanFindings),
	}
	for name, op := range extraOps {
		ops[name] = op(f)
	}
	return ops
}

// serialize writes an output shape as the SDK's own JSON serializer does.
func serialize(out smithy.Serializable) ([]byte, error) {
	proto := awsjson.New11(schemas.AmazonEC2ContainerRegistry_V20150921)
	// The operation schema only names the X-Amz-Target header, which is
	// not used here; the body comes from out's own Serialize method.
	op := smithy.NewOperationSchema(schemas.PutImage, schemas.PutImageResponse, schemas.PutImageResponse)
	req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	if err := proto.SerializeRequest(context.Background(), op, out, req); err != nil {
		return nil, err
	}
	built := req.Build(context.Background())
	if built.Body == nil {
		return []byte("{}"), nil
	}
	defer built.Body.Close()
	return io.ReadAll(built.Body)
}

func writeError(w http.ResponseWriter, err error) {
	code, msg, status := "ServerException", err.Error(), http.StatusInternalServerError
	var api smithy.APIError
	if errors.As(err, &api) {
		code, msg = api.ErrorCode(), api.ErrorMessage()
		if api.ErrorFault() != smithy.FaultServer {
			status = http.StatusBadRequest
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
