package ecrfake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go"
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

type opFunc func(context.Context, []byte) (any, error)

// call decodes the JSON input (member names match the SDK's field names
// case-insensitively) and runs fn.
func call[I, O any](fn func(context.Context, *I, ...func(*ecr.Options)) (O, error)) opFunc {
	return func(ctx context.Context, body []byte) (any, error) {
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

// serialize writes an output shape as ECR's AWS JSON 1.1 protocol does:
// members by their names in the service model (the SDK's field names with
// a lower-case first letter, as ECR's are), unset members left out,
// timestamps in epoch seconds, blobs in base64.
func serialize(out any) ([]byte, error) {
	v, err := jsonValue(reflect.ValueOf(out))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(v)
}

var timeType = reflect.TypeFor[time.Time]()

func jsonValue(v reflect.Value) (any, error) {
	switch v.Kind() {
	case reflect.Invalid:
		return nil, nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return jsonValue(v.Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			return float64(t.UnixNano()) / 1e9, nil
		}
		obj := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			// ResultMetadata is the SDK's, not the service's.
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			member, err := jsonValue(v.Field(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			if member != nil {
				obj[strings.ToLower(f.Name[:1])+f.Name[1:]] = member
			}
		}
		return obj, nil
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return base64.StdEncoding.EncodeToString(v.Bytes()), nil
		}
		list := make([]any, 0, v.Len())
		for i := range v.Len() {
			e, err := jsonValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			list = append(list, e)
		}
		return list, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		obj := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			e, err := jsonValue(it.Value())
			if err != nil {
				return nil, err
			}
			obj[fmt.Sprint(it.Key().Interface())] = e
		}
		return obj, nil
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	}
	return nil, fmt.Errorf("no JSON 1.1 form for %s", v.Type())
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
