package ecrfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Registry is an OCI distribution endpoint that behaves like an ECR
// registry, backed by a Fake: manifests are stored in (and served from) the
// Fake's repositories, so an image pushed through the registry API is seen
// by DescribeImages and BatchGetImage and the other way round. Blob content
// is kept by the wrapped registry (registry.New() from go-containerregistry).
//
// Like ECR it
//   - answers 404 NAME_UNKNOWN for repositories the Fake does not hold (ECR
//     never creates a repository on push);
//   - refuses, with 400 TAG_INVALID and ECR's message, a manifest that would
//     move a tag in an immutable repository, and accepts the same manifest
//     under the same tag again;
//   - keeps blobs per repository and mounts a blob from another repository
//     (POST ...?mount=&from=) without its content being sent again;
//   - refuses a manifest whose blobs are not in the repository
//     (MANIFEST_BLOB_UNKNOWN);
//   - asks for basic authentication (user AWS, the Fake's Password) when
//     RequireAuth is set.
//
// Stats counts what clients did, so tests can tell a skipped upload from a
// repeated one.
type Registry struct {
	f     *Fake
	inner http.Handler
	// RequireAuth makes every request need the credentials
	// GetAuthorizationToken hands out.
	RequireAuth bool

	mu     sync.Mutex
	blobs  map[string]map[string]bool // repo -> digest
	faults []*RegistryFault

	blobUploads   atomic.Int64
	bytesUploaded atomic.Int64
	blobMounts    atomic.Int64
	blobGets      atomic.Int64
	manifestPuts  atomic.Int64
}

// RegistryFault makes matching registry requests fail.
type RegistryFault struct {
	Method       string // "" matches any
	PathContains string // "" matches any
	N            int    // how many requests to fail; <0 for all
	Status       int
	Code         string
	Message      string
}

// RegistryStats counts registry requests.
type RegistryStats struct {
	BlobUploads   int64 // completed blob uploads
	BytesUploaded int64 // bytes of blob content received
	BlobMounts    int64 // blobs mounted from another repository
	BlobGets      int64 // blob downloads (GET)
	ManifestPuts  int64
}

// Registry wraps inner (an OCI registry handler) as the Fake's registry
// endpoint. Serve it with httptest.NewServer and set the Fake's
// ProxyEndpoint to the server's URL.
func (f *Fake) Registry(inner http.Handler) *Registry {
	r := &Registry{f: f, inner: inner, blobs: map[string]map[string]bool{}}
	f.mu.Lock()
	f.blobsOK = r.hasBlobLocked
	f.mu.Unlock()
	return r
}

// Stats returns the request counts so far.
func (r *Registry) Stats() RegistryStats {
	return RegistryStats{
		BlobUploads: r.blobUploads.Load(), BytesUploaded: r.bytesUploaded.Load(), BlobMounts: r.blobMounts.Load(),
		BlobGets: r.blobGets.Load(), ManifestPuts: r.manifestPuts.Load(),
	}
}

// Fail adds a fault. A fault with N == 0 fails nothing, as FailNext with
// n == 0 does.
func (r *Registry) Fail(ft RegistryFault) {
	if ft.N == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &ft)
}

func (r *Registry) fault(req *http.Request) *RegistryFault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ft := range r.faults {
		if (ft.Method != "" && ft.Method != req.Method) || !strings.Contains(req.URL.Path, ft.PathContains) {
			continue
		}
		if ft.N > 0 {
			ft.N--
			if ft.N == 0 {
				r.faults = append(r.faults[:i], r.faults[i+1:]...)
			}
		}
		return ft
	}
	return nil
}

// hasBlobLocked is the Fake's blob check; it is called with f.mu held and
// takes only r.mu.
func (r *Registry) hasBlobLocked(repo, digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobs[repo][digest]
}

func (r *Registry) addBlob(repo, digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blobs[repo] == nil {
		r.blobs[repo] = map[string]bool{}
	}
	r.blobs[repo][digest] = true
}

// regError writes a distribution-spec error body.
func regError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	type e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.NewEncoder(w).Encode(struct {
		Errors []e `json:"errors"`
	}{[]e{{code, msg}}})
}

func (r *Registry) authorized(req *http.Request) bool {
	if !r.RequireAuth {
		return true
	}
	r.f.mu.Lock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:"+r.f.Password))
	r.f.mu.Unlock()
	return req.Header.Get("Authorization") == want
}

// split parses /v2/<repo>/<kind>/<rest>.
func split(p string) (repo, kind, rest string, ok bool) {
	p = strings.TrimPrefix(p, "/v2/")
	for _, k := range []string{"/blobs/uploads", "/manifests/", "/blobs/", "/tags/list"} {
		if i := strings.LastIndex(p, k); i > 0 {
			kind = strings.Trim(k, "/")
			return p[:i], kind, strings.TrimPrefix(p[i+len(k):], "/"), true
		}
	}
	return "", "", "", false
}

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !r.authorized(req) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="https://%s/",service="ecr.amazonaws.com"`, r.f.Host()))
		regError(w, http.StatusUnauthorized, "DENIED", "Not Authorized")
		return
	}
	if ft := r.fault(req); ft != nil {
		regError(w, ft.Status, ft.Code, ft.Message)
		return
	}
	if req.URL.Path == "/v2/" || req.URL.Path == "/v2" {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.WriteHeader(http.StatusOK)
		return
	}
	repo, kind, rest, ok := split(req.URL.Path)
	if !ok {
		regError(w, http.StatusNotFound, "NOT_FOUND", "Not Found")
		return
	}
	r.f.mu.Lock()
	_, err := r.f.repo(aws.String(repo))
	r.f.mu.Unlock()
	if err != nil {
		regError(w, http.StatusNotFound, "NAME_UNKNOWN", *err.(*types.RepositoryNotFoundException).Message)
		return
	}
	switch kind {
	case "manifests":
		r.manifest(w, req, repo, rest)
	case "tags/list":
		r.tags(w, req, repo)
	case "blobs":
		r.blob(w, req, repo, rest)
	case "blobs/uploads":
		r.upload(w, req, repo)
	}
}

func (r *Registry) blob(w http.ResponseWriter, req *http.Request, repo, digest string) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		regError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return
	}
	if !r.hasBlobLocked(repo, digest) {
		regError(w, http.StatusNotFound, "BLOB_UNKNOWN", fmt.Sprintf("Unknown blob %s in repository %s", digest, repo))
		return
	}
	if req.Method == http.MethodGet {
		r.blobGets.Add(1)
	}
	r.inner.ServeHTTP(w, req)
}

func (r *Registry) upload(w http.ResponseWriter, req *http.Request, repo string) {
	q := req.URL.Query()
	if req.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") != "" {
		d := q.Get("mount")
		if r.hasBlobLocked(q.Get("from"), d) {
			r.addBlob(repo, d)
			r.blobMounts.Add(1)
			w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d)
			w.Header().Set("Docker-Content-Digest", d)
			w.WriteHeader(http.StatusCreated)
			return
		}
	}
	if req.Body != nil {
		req.Body = &countingBody{ReadCloser: req.Body, n: &r.bytesUploaded}
	}
	rec := &statusRecorder{ResponseWriter: w}
	r.inner.ServeHTTP(rec, req)
	if rec.status == http.StatusCreated && q.Get("digest") != "" {
		r.addBlob(repo, q.Get("digest"))
		r.blobUploads.Add(1)
	}
}

func (r *Registry) manifest(w http.ResponseWriter, req *http.Request, repo, ref string) {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		r.f.mu.Lock()
		rp, _ := r.f.repo(aws.String(repo))
		img, err := r.f.image(rp, imageID(ref))
		var body []byte
		var mt, digest string
		if err == nil {
			body, mt, digest = img.Manifest, img.MediaType, img.Digest
		}
		r.f.mu.Unlock()
		if err != nil {
			regError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "Requested image not found")
			return
		}
		w.Header().Set("Content-Type", mt)
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		if req.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	case http.MethodPut:
		body, err := io.ReadAll(req.Body)
		if err != nil {
			regError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
			return
		}
		r.manifestPuts.Add(1)
		var tag, digest string
		if strings.HasPrefix(ref, "sha256:") {
			digest = ref
		} else {
			tag = ref
		}
		r.f.mu.Lock()
		rp, _ := r.f.repo(aws.String(repo))
		img, err := r.f.put(rp, body, req.Header.Get("Content-Type"), digest, tag)
		r.f.mu.Unlock()
		var already *types.ImageAlreadyExistsException
		var tagExists *types.ImageTagAlreadyExistsException
		var layers *types.LayersNotFoundException
		var refs *types.ReferencedImagesNotFoundException
		var mismatch *types.ImageDigestDoesNotMatchException
		var invalid *types.InvalidParameterException
		switch {
		case err == nil:
			digest = img.Digest
		case errors.As(err, &already):
			digest = Digest(body)
		case errors.As(err, &tagExists):
			regError(w, http.StatusBadRequest, "TAG_INVALID", aws.ToString(tagExists.Message))
			return
		case errors.As(err, &layers):
			regError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", aws.ToString(layers.Message))
			return
		case errors.As(err, &refs):
			regError(w, http.StatusBadRequest, "MANIFEST_UNKNOWN", aws.ToString(refs.Message))
			return
		case errors.As(err, &mismatch):
			regError(w, http.StatusBadRequest, "DIGEST_INVALID", aws.ToString(mismatch.Message))
			return
		case errors.As(err, &invalid):
			regError(w, http.StatusBadRequest, "MANIFEST_INVALID", aws.ToString(invalid.Message))
			return
		default:
			regError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", err.Error())
			return
		}
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Location", "/v2/"+repo+"/manifests/"+digest)
		w.WriteHeader(http.StatusCreated)
	default:
		regError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
	}
}

func (r *Registry) tags(w http.ResponseWriter, req *http.Request, repo string) {
	if req.Method != http.MethodGet {
		regError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return
	}
	r.f.mu.Lock()
	rp, _ := r.f.repo(aws.String(repo))
	tags := make([]string, 0, len(rp.tags))
	for t := range rp.tags {
		tags = append(tags, t)
	}
	r.f.mu.Unlock()
	sort.Strings(tags)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{repo, tags})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b.Bytes())
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
