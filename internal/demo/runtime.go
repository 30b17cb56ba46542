package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/lambdafake"
)

// modelPath is where the inference image keeps its model.
const modelPath = "var/task/model.json"

// model is the credit-approval model an image carries: a logistic
// regression over the applicant's features.
type model struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Features  []string  `json:"features"`
	Weights   []float64 `json:"weights"`
	Bias      float64   `json:"bias"`
	Threshold float64   `json:"threshold"`

	err error // the model could not be loaded
}

// proxyResponse is what the function returns, as an API Gateway proxy
// integration expects.
type proxyResponse struct {
	StatusCode int    `json:"statusCode"`
	Body       string `json:"body"`
}

// runtime is how the Lambda stand-in runs a function: it cannot run a
// container, so it loads the model file from the image the version was
// published with (pulled from the local registry by digest) and scores the
// event in Go, as the image's handler would. A model file that does not
// load is a function error, as it would be in Lambda.
type runtime struct {
	pull     func() authn.Authenticator
	registry string // host:port the images are pulled from

	mu     sync.Mutex
	models map[string]model // by image digest
}

func (rt *runtime) handler(ctx context.Context, req lambdafake.InvokeRequest) lambdafake.InvokeResult {
	m := rt.load(ctx, req.ImageURI)
	logs := fmt.Sprintf("START Version: %s\n", req.Version)
	if m.err != nil {
		body, _ := json.Marshal(map[string]string{"errorType": "Runtime.ModelLoadError", "errorMessage": m.err.Error()})
		return lambdafake.InvokeResult{
			FunctionError: "Unhandled",
			Payload:       body,
			Log:           logs + "ERROR " + m.err.Error() + "\nEND Version: " + req.Version + "\n",
		}
	}
	var event struct {
		Health    bool               `json:"health"`
		Applicant map[string]float64 `json:"applicant"`
	}
	if err := json.Unmarshal(req.Payload, &event); err != nil {
		return respond(logs, 400, map[string]any{"error": "the event is not an application: " + err.Error()})
	}
	if event.Health {
		return respond(logs, 200, map[string]any{"status": "ok", "model": m.Version})
	}
	z := m.Bias
	for i, f := range m.Features {
		v, ok := event.Applicant[f]
		if !ok {
			return respond(logs, 400, map[string]any{"error": "applicant." + f + " is missing"})
		}
		z += m.Weights[i] * v
	}
	score := 1 / (1 + math.Exp(-z))
	logs += fmt.Sprintf("model %s scored %.3f\n", m.Version, score)
	return respond(logs, 200, map[string]any{"approved": score >= m.Threshold, "score": math.Round(score*1000) / 1000, "model": m.Version})
}

func respond(logs string, status int, body map[string]any) lambdafake.InvokeResult {
	b, _ := json.Marshal(body)
	p, _ := json.Marshal(proxyResponse{StatusCode: status, Body: string(b)})
	return lambdafake.InvokeResult{Payload: p, Log: logs + "END\n"}
}

// load reads the model of an image once.
func (rt *runtime) load(ctx context.Context, imageURI string) model {
	img, err := ecrref.ParseImage(imageURI)
	if err != nil || img.Digest == "" {
		return model{err: fmt.Errorf("image %s: Lambda runs images by digest", imageURI)}
	}
	rt.mu.Lock()
	m, ok := rt.models[img.Digest]
	rt.mu.Unlock()
	if ok {
		return m
	}
	m, err = rt.read(ctx, img.Repository, img.Digest)
	if err != nil {
		// Not kept: the next invocation pulls again.
		return model{err: err}
	}
	rt.mu.Lock()
	rt.models[img.Digest] = m
	rt.mu.Unlock()
	return m
}

// read pulls the image and reads its model. An error is one pulling the
// image; a model file that does not load is a model with err set.
func (rt *runtime) read(ctx context.Context, repo, digest string) (model, error) {
	ref, err := name.NewDigest(rt.registry+"/"+repo+"@"+digest, name.Insecure)
	if err != nil {
		return model{}, err
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuth(rt.pull()))
	if err != nil {
		return model{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	fs := mutate.Extract(img)
	defer fs.Close()
	tr := tar.NewReader(fs)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return model{err: fmt.Errorf("/%s: not in the image", modelPath)}, nil
		}
		if err != nil {
			return model{}, fmt.Errorf("reading the image %s: %w", ref, err)
		}
		if path.Clean(h.Name) != modelPath {
			continue
		}
		var m model
		if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
			return model{err: fmt.Errorf("loading /%s: %w", modelPath, err)}, nil
		}
		if len(m.Weights) != len(m.Features) || m.Version == "" {
			return model{err: fmt.Errorf("loading /%s: %d weights for %d features", modelPath, len(m.Weights), len(m.Features))}, nil
		}
		return m, nil
	}
}
