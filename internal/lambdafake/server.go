package lambdafake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/schemas"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/traits"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// maxPayload is Lambda's limit on a synchronous invocation's payload (and,
// here, on any request body).
const maxPayload = 6 * 1024 * 1024

// Handler serves the fake over HTTP with Lambda's REST-JSON protocol
// (API version 2015-03-31), so that a real *lambda.Client talks to it:
//
//	srv := httptest.NewServer(l.Handler())
//	client := lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(srv.URL) })
//
// or with AWS_ENDPOINT_URL_LAMBDA=srv.URL for a tool that loads its own
// configuration. It serves the operations the fake implements:
// GetFunction, UpdateFunctionCode, UpdateFunctionConfiguration,
// PublishVersion, GetAlias, CreateAlias, UpdateAlias and Invoke; any other
// request is an UnknownOperationException. Requests are not
// signature-checked. Responses are written by the SDK's own serializer, and
// errors as Lambda writes them (the X-Amzn-ErrorType header, a JSON body
// with the message and Type, the status the error's model gives: 404
// ResourceNotFoundException, 409 ResourceConflictException, 412
// PreconditionFailedException, 429 TooManyRequestsException with
// Retry-After, ...), so the SDK returns the same typed errors as against
// Lambda and its retryer retries what it would retry there.
func (l *Lambda) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("X-Amzn-RequestId", newRevision())
		op, fn, alias, ok := route(req)
		if !ok {
			writeError(w, &smithy.GenericAPIError{Code: "UnknownOperationException", Message: fmt.Sprintf("%s %s is not an operation the fake serves", req.Method, req.URL.Path), Fault: smithy.FaultClient})
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, maxPayload+1))
		if err != nil {
			writeError(w, &smithy.GenericAPIError{Code: "SerializationException", Message: err.Error(), Fault: smithy.FaultClient})
			return
		}
		if len(body) > maxPayload {
			writeError(w, &types.RequestTooLargeException{Message: aws.String(fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", maxPayload, op)), Type: aws.String("User")})
			return
		}
		ctx := req.Context()
		q := req.URL.Query()
		var out smithy.Serializable
		switch op {
		case "GetFunction":
			in := &lambda.GetFunctionInput{FunctionName: &fn}
			if v := q.Get("Qualifier"); v != "" {
				in.Qualifier = aws.String(v)
			}
			out, err = l.GetFunction(ctx, in)
		case "UpdateFunctionCode":
			out, err = decodeCall(ctx, body, l.UpdateFunctionCode, func(in *lambda.UpdateFunctionCodeInput) { in.FunctionName = &fn })
		case "UpdateFunctionConfiguration":
			out, err = decodeCall(ctx, body, l.UpdateFunctionConfiguration, func(in *lambda.UpdateFunctionConfigurationInput) { in.FunctionName = &fn })
		case "PublishVersion":
			out, err = decodeCall(ctx, body, l.PublishVersion, func(in *lambda.PublishVersionInput) { in.FunctionName = &fn })
		case "GetAlias":
			out, err = l.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: &fn, Name: &alias})
		case "CreateAlias":
			out, err = decodeCall(ctx, body, l.CreateAlias, func(in *lambda.CreateAliasInput) { in.FunctionName = &fn })
		case "UpdateAlias":
			out, err = decodeCall(ctx, body, l.UpdateAlias, func(in *lambda.UpdateAliasInput) { in.FunctionName, in.Name = &fn, &alias })
		case "Invoke":
			l.serveInvoke(w, req, fn, body)
			return
		}
		if err != nil {
			writeError(w, err)
			return
		}
		header, b, err := encode(out)
		if err != nil {
			writeError(w, &types.ServiceException{Message: aws.String(err.Error()), Type: aws.String("Service")})
			return
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(operationStatus(op))
		_, _ = w.Write(b)
	})
}

// serveInvoke answers Invoke: the payload is the body both ways, and the
// invocation's details travel in headers.
func (l *Lambda) serveInvoke(w http.ResponseWriter, req *http.Request, fn string, body []byte) {
	in := &lambda.InvokeInput{
		FunctionName:   &fn,
		Payload:        body,
		InvocationType: types.InvocationType(req.Header.Get("X-Amz-Invocation-Type")),
		LogType:        types.LogType(req.Header.Get("X-Amz-Log-Type")),
	}
	if v := req.URL.Query().Get("Qualifier"); v != "" {
		in.Qualifier = aws.String(v)
	}
	if in.InvocationType == "" {
		in.InvocationType = types.InvocationTypeRequestResponse
	}
	if len(body) > 0 && !json.Valid(body) {
		writeError(w, &types.InvalidRequestContentException{Message: aws.String("Could not parse request body into json: the payload is not valid JSON"), Type: aws.String("User")})
		return
	}
	out, err := l.Invoke(req.Context(), in)
	if err != nil {
		writeError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if out.ExecutedVersion != nil {
		h.Set("X-Amz-Executed-Version", *out.ExecutedVersion)
	}
	if out.FunctionError != nil {
		h.Set("X-Amz-Function-Error", *out.FunctionError)
	}
	if out.LogResult != nil {
		h.Set("X-Amz-Log-Result", *out.LogResult)
	}
	status := int(out.StatusCode)
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(out.Payload)
}

// route maps a request to the operation it calls, with the function name
// and alias name from its path.
func route(req *http.Request) (op, fn, alias string, ok bool) {
	rest, found := strings.CutPrefix(req.URL.EscapedPath(), "/2015-03-31/functions/")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil || s == "" {
			return "", "", "", false
		}
		parts[i] = s
	}
	fn = parts[0]
	m := req.Method
	switch {
	case len(parts) == 1 && m == http.MethodGet:
		op = "GetFunction"
	case len(parts) == 2 && parts[1] == "code" && m == http.MethodPut:
		op = "UpdateFunctionCode"
	case len(parts) == 2 && parts[1] == "configuration" && m == http.MethodPut:
		op = "UpdateFunctionConfiguration"
	case len(parts) == 2 && parts[1] == "versions" && m == http.MethodPost:
		op = "PublishVersion"
	case len(parts) == 2 && parts[1] == "aliases" && m == http.MethodPost:
		op = "CreateAlias"
	case len(parts) == 3 && parts[1] == "aliases" && m == http.MethodGet:
		op, alias = "GetAlias", parts[2]
	case len(parts) == 3 && parts[1] == "aliases" && m == http.MethodPut:
		op, alias = "UpdateAlias", parts[2]
	case len(parts) == 2 && parts[1] == "invocations" && m == http.MethodPost:
		op = "Invoke"
	default:
		return "", "", "", false
	}
	return op, fn, alias, true
}

var operationSchemas = map[string]*smithy.Schema{
	"GetFunction":                 schemas.GetFunction,
	"UpdateFunctionCode":          schemas.UpdateFunctionCode,
	"UpdateFunctionConfiguration": schemas.UpdateFunctionConfiguration,
	"PublishVersion":              schemas.PublishVersion,
	"GetAlias":                    schemas.GetAlias,
	"CreateAlias":                 schemas.CreateAlias,
	"UpdateAlias":                 schemas.UpdateAlias,
	"Invoke":                      schemas.Invoke,
}

// operationStatus is the status the operation's model gives a success
// (201 for PublishVersion and CreateAlias).
func operationStatus(op string) int {
	if t, ok := smithy.SchemaTrait[*traits.HTTP](operationSchemas[op]); ok && t.Code != 0 {
		return t.Code
	}
	return http.StatusOK
}

// decodeCall decodes the JSON body into the operation's input (member
// names match the SDK's field names case-insensitively), sets the members
// the path carries, and calls fn.
func decodeCall[I any, O smithy.Serializable](ctx context.Context, body []byte, fn func(context.Context, *I, ...func(*lambda.Options)) (O, error), path func(*I)) (smithy.Serializable, error) {
	in := new(I)
	if len(body) > 0 {
		if err := json.Unmarshal(body, in); err != nil {
			return nil, &types.InvalidRequestContentException{Message: aws.String("Could not parse request body into json: " + err.Error()), Type: aws.String("User")}
		}
	}
	path(in)
	out, err := fn(ctx, in)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// encode writes a shape (an output or a modelled error) as the SDK's own
// REST-JSON serializer does: members bound to headers (Retry-After) go to
// the header, the others to the JSON body.
func encode(v smithy.Serializable) (http.Header, []byte, error) {
	proto := restjson1.New(schemas.AWSGirApiService)
	// Any operation with a fixed path serves to bind the shape: only the
	// member traits of v's own schema decide where each member goes.
	op := smithy.NewOperationSchema(schemas.ListFunctions, schemas.ListFunctionsResponse, schemas.ListFunctionsResponse)
	req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	if err := proto.SerializeRequest(context.Background(), op, v, req); err != nil {
		return nil, nil, err
	}
	built := req.Build(context.Background())
	if built.Body == nil {
		return built.Header, []byte("{}"), nil
	}
	defer built.Body.Close()
	b, err := io.ReadAll(built.Body)
	return built.Header, b, err
}

// writeError writes err as Lambda does. A modelled error gets the status
// of its model; AccessDeniedException (which Lambda returns but does not
// model) 403; other client faults 400 and anything else 500
// ServiceException.
func writeError(w http.ResponseWriter, err error) {
	code, status := "ServiceException", http.StatusInternalServerError
	var body smithy.Serializable = &types.ServiceException{Message: aws.String(err.Error()), Type: aws.String("Service")}
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
		entry := lambda.TypeRegistry.Entries["com.amazonaws.lambda#"+code]
		s, modelled := err.(smithy.Serializable)
		switch {
		case entry != nil && modelled:
			body = s
			status = http.StatusBadRequest
			if t, ok := smithy.SchemaTrait[*traits.HTTPError](entry.Schema); ok {
				status = t.Code
			}
		default:
			body = nil
			status = http.StatusBadRequest
			if code == "AccessDeniedException" {
				status = http.StatusForbidden
			}
			if api.ErrorFault() == smithy.FaultServer {
				status = http.StatusInternalServerError
			}
			b, _ := json.Marshal(map[string]string{"Type": "User", "message": api.ErrorMessage()})
			writeRaw(w, code, status, nil, b)
			return
		}
	}
	header, b, encErr := encode(body)
	if encErr != nil {
		b, _ = json.Marshal(map[string]string{"Type": "Service", "message": err.Error()})
		header = nil
	}
	writeRaw(w, code, status, header, b)
}

func writeRaw(w http.ResponseWriter, code string, status int, header http.Header, body []byte) {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
