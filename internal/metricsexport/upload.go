package metricsexport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bmatcuk/doublestar/v4"
	"golang.org/x/sync/errgroup"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
)

// S3API is the part of the S3 client the tool calls.
type S3API interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Presigner makes GET URLs for uploaded objects (s3.PresignClient).
type Presigner interface {
	PresignGetObject(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// UploadConcurrency is how many files are uploaded at once.
const UploadConcurrency = 8

// maxPutSize is the largest object one PutObject stores.
const maxPutSize = 5 << 30

// shaMetadata is the user metadata key holding the SHA-256 of an uploaded
// file, so that a second run can tell the object is already there.
const shaMetadata = "sha256"

// Report is one report file uploaded (or found already uploaded) to S3.
type Report struct {
	File string `json:"file"`
	// Name is the key without the prefix: the file's path in the upload.
	Name        string `json:"name"`
	Key         string `json:"key"`
	URI         string `json:"uri"` // s3://bucket/key
	URL         string `json:"url"` // virtual-hosted or presigned URL
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	// Unchanged is true when the object was already there with the same
	// content and was not uploaded again.
	Unchanged bool `json:"unchanged"`
}

type uploadFile struct {
	path, name, key, contentType, sha string
	size                              int64
}

// planUploads expands the --upload arguments and gives each file its key:
//
//   - a file is stored as prefix + its base name;
//   - a directory as prefix + each file's path inside it (recursively);
//   - a glob as prefix + each match's path below the glob's fixed leading
//     directories ("reports/**/*.html" keeps what "**" matched).
//
// So a report is stored under the same key on every run, and files that
// link to each other inside a directory keep working. Two different files
// for one key are bad input. Every file is hashed here, before anything is
// sent.
func planUploads(args []string, prefix string) ([]uploadFile, error) {
	prefix = strings.TrimLeft(filepath.ToSlash(prefix), "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var files []uploadFile
	byKey := map[string]int{}
	add := func(p, rel string) error {
		name := filepath.ToSlash(rel)
		key := prefix + name
		f, err := hashFile(p)
		if err != nil {
			return err
		}
		f.name, f.key = name, key
		if i, ok := byKey[key]; ok {
			if files[i].sha == f.sha {
				return nil // the same file, or the same content, named twice
			}
			return exitcode.BadInputf("--upload: %s and %s would both be stored as %s", files[i].path, p, key)
		}
		byKey[key] = len(files)
		files = append(files, f)
		return nil
	}
	for _, arg := range args {
		matches, base, err := expand(arg)
		if err != nil {
			return nil, exitcode.BadInputf("--upload %q: %v", arg, err)
		}
		for _, m := range matches {
			info, err := os.Stat(m)
			if err != nil {
				return nil, exitcode.BadInputf("--upload %q: %v", arg, unwrapPathError(err))
			}
			if !info.IsDir() {
				rel := filepath.Base(m)
				if base != "" {
					rel, _ = filepath.Rel(base, m)
				}
				if err := add(m, rel); err != nil {
					return nil, err
				}
				continue
			}
			err = filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				if !d.Type().IsRegular() {
					return nil
				}
				rel, _ := filepath.Rel(m, p)
				if base != "" {
					rel, _ = filepath.Rel(base, p)
				}
				return add(p, rel)
			})
			if err != nil {
				if exitcode.Of(err) == exitcode.BadInput {
					return nil, err
				}
				return nil, exitcode.BadInputf("--upload %q: %v", arg, unwrapPathError(err))
			}
		}
	}
	return files, nil
}

// expand returns the paths arg names: itself when it has no glob
// characters (it must exist), else its matches (at least one), with the
// directory their relative paths start from.
func expand(arg string) (matches []string, base string, err error) {
	if !strings.ContainsAny(arg, "*?[{") {
		if _, err := os.Stat(arg); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, "", errors.New("no such file or directory")
			}
			return nil, "", err
		}
		return []string{arg}, "", nil
	}
	if !doublestar.ValidatePathPattern(filepath.ToSlash(arg)) {
		return nil, "", errors.New("invalid glob pattern")
	}
	base, _ = doublestar.SplitPattern(filepath.ToSlash(filepath.Clean(arg)))
	matches, err = doublestar.FilepathGlob(arg, doublestar.WithFailOnIOErrors())
	if err != nil {
		return nil, "", err
	}
	if len(matches) == 0 {
		return nil, "", errors.New("no file matches")
	}
	return matches, filepath.FromSlash(base), nil
}

func hashFile(p string) (uploadFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return uploadFile{}, exitcode.BadInputf("--upload %q: %v", p, unwrapPathError(err))
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return uploadFile{}, exitcode.BadInputf("--upload %q: %v", p, unwrapPathError(err))
	}
	if n > maxPutSize {
		return uploadFile{}, exitcode.BadInputf("--upload %q: larger than 5 GiB, the most one upload takes", p)
	}
	return uploadFile{path: p, size: n, sha: hex.EncodeToString(h.Sum(nil)), contentType: ContentType(p)}, nil
}

// contentTypes are the types of common report files; they are fixed here so
// that the result does not depend on the machine's mime.types.
var contentTypes = map[string]string{
	".html":    "text/html; charset=utf-8",
	".htm":     "text/html; charset=utf-8",
	".css":     "text/css; charset=utf-8",
	".js":      "text/javascript; charset=utf-8",
	".mjs":     "text/javascript; charset=utf-8",
	".json":    "application/json",
	".ipynb":   "application/x-ipynb+json",
	".csv":     "text/csv; charset=utf-8",
	".tsv":     "text/tab-separated-values; charset=utf-8",
	".txt":     "text/plain; charset=utf-8",
	".log":     "text/plain; charset=utf-8",
	".env":     "text/plain; charset=utf-8",
	".md":      "text/markdown; charset=utf-8",
	".xml":     "application/xml",
	".yaml":    "application/yaml",
	".yml":     "application/yaml",
	".png":     "image/png",
	".jpg":     "image/jpeg",
	".jpeg":    "image/jpeg",
	".gif":     "image/gif",
	".svg":     "image/svg+xml",
	".webp":    "image/webp",
	".pdf":     "application/pdf",
	".zip":     "application/zip",
	".gz":      "application/gzip",
	".tgz":     "application/gzip",
	".parquet": "application/vnd.apache.parquet",
	".sarif":   "application/sarif+json",
}

// ContentType is the Content-Type a file is uploaded with, from its
// extension; application/octet-stream when unknown.
func ContentType(p string) string {
	ext := strings.ToLower(path.Ext(filepath.ToSlash(p)))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// uploadAll uploads files concurrently. It returns the reports of every
// file that is in S3 now, in the order of files, and an error for each one
// that is not; a failed file is never reported.
func uploadAll(ctx context.Context, client S3API, presigner Presigner, bucket string, files []uploadFile, presignFor time.Duration, log action.Logger) ([]Report, error) {
	reports := make([]*Report, len(files))
	var mu sync.Mutex
	var errs []error
	var g errgroup.Group
	g.SetLimit(UploadConcurrency)
	for i, f := range files {
		g.Go(func() error {
			r, err := uploadOne(ctx, client, presigner, bucket, f, presignFor)
			// The log is one writer: one goroutine at a time.
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("uploading %s to s3://%s/%s: %w", f.path, bucket, f.key, err))
			case r.Unchanged:
				log.Logf("%s is already at %s", f.path, r.URI)
			default:
				log.Logf("uploaded %s to %s (%s)", f.path, r.URI, r.ContentType)
			}
			reports[i] = r
			return nil
		})
	}
	_ = g.Wait()
	var out []Report
	for _, r := range reports {
		if r != nil {
			out = append(out, *r)
		}
	}
	if len(errs) > 0 {
		// errs are in completion order; sort them for a stable message.
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return out, exitcode.Wrap(exitcode.Incomplete, errors.Join(errs...))
	}
	return out, nil
}

func uploadOne(ctx context.Context, client S3API, presigner Presigner, bucket string, f uploadFile, presignFor time.Duration) (*Report, error) {
	r := &Report{File: f.path, Name: f.name, Key: f.key, URI: "s3://" + bucket + "/" + f.key, ContentType: f.contentType, Size: f.size, SHA256: f.sha}
	// A HEAD that fails for any reason (not found, no permission to read)
	// just means the file is uploaded.
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &f.key})
	if err == nil && head.Metadata[shaMetadata] == f.sha && aws.ToInt64(head.ContentLength) == f.size &&
		aws.ToString(head.ContentType) == f.contentType {
		r.Unchanged = true
	} else {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		body, err := os.Open(f.path)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		_, err = client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &bucket,
			Key:           &f.key,
			Body:          body,
			ContentLength: aws.Int64(f.size),
			ContentType:   aws.String(f.contentType),
			Metadata:      map[string]string{shaMetadata: f.sha},
		})
		if err != nil {
			return nil, err
		}
	}
	u, err := objectURL(ctx, presigner, bucket, f.key, presignFor)
	if err != nil {
		return nil, fmt.Errorf("making its URL: %w", err)
	}
	r.URL = u
	return r, nil
}

// objectURL is the object's URL as the client addresses it (virtual-hosted
// or path-style, the region's or the configured endpoint): presigned for
// presignFor when it is not zero, else plain. The plain URL is the
// presigned one without its query, so it always matches the client's own
// endpoint rules.
func objectURL(ctx context.Context, presigner Presigner, bucket, key string, presignFor time.Duration) (string, error) {
	expires := presignFor
	if expires == 0 {
		expires = time.Minute
	}
	req, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key}, s3.WithPresignExpires(expires))
	if err != nil {
		return "", err
	}
	if presignFor != 0 {
		return req.URL, nil
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return "", err
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}
