// Package trivytest builds what a real Trivy scan needs in tests and
// benchmarks, without the network: a small vulnerability database (the
// equivalent of Trivy's internal dbtest, written with trivy-db and bbolt),
// that database packaged as the OCI artifact Trivy downloads, and an
// Alpine-like container image with known packages.
package trivytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"
	"sigs.k8s.io/yaml"
)

//go:embed fixtures/*.yaml
var fixtures embed.FS

// AlpineFixture is the database fixture that matches AlpineImage: Alpine
// 3.21 advisories for openssl, busybox, zlib, musl and ca-certificates.
const AlpineFixture = "fixtures/alpine.yaml"

// DB media types of the trivy-db OCI artifact.
const (
	DBLayerMediaType  = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	DBConfigMediaType = "application/vnd.aquasec.trivy.config.v1+json"
)

// Pair is one element of a fixture: a nested bucket (Bucket with Pairs) or
// a key with a value that is stored as JSON.
type Pair struct {
	Bucket string `json:"bucket,omitempty"`
	Pairs  []Pair `json:"pairs,omitempty"`
	Key    string `json:"key,omitempty"`
	Value  any    `json:"value,omitempty"`
}

// ReadFixture reads a fixture file. Names starting with "fixtures/" are
// read from the fixtures built into this package, anything else from disk.
func ReadFixture(name string) ([]Pair, error) {
	b, err := fixtures.ReadFile(name)
	if err != nil {
		if b, err = os.ReadFile(name); err != nil {
			return nil, fmt.Errorf("reading fixture: %w", err)
		}
	}
	var pairs []Pair
	if err := yaml.UnmarshalStrict(b, &pairs); err != nil {
		return nil, fmt.Errorf("parsing fixture %s: %w", name, err)
	}
	return pairs, nil
}

// LoadFixtures writes the fixtures' buckets and keys into the bolt database
// at dbPath, creating it when missing.
func LoadFixtures(dbPath string, files ...string) error {
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("opening %s: %w", dbPath, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, f := range files {
			pairs, err := ReadFixture(f)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				if p.Bucket == "" {
					return fmt.Errorf("fixture %s: a top-level entry must be a bucket", f)
				}
				b, err := tx.CreateBucketIfNotExists([]byte(p.Bucket))
				if err != nil {
					return err
				}
				if err := putPairs(b, p.Pairs); err != nil {
					return fmt.Errorf("fixture %s, bucket %q: %w", f, p.Bucket, err)
				}
			}
		}
		return nil
	})
	return errors.Join(err, db.Close())
}

func putPairs(b *bolt.Bucket, pairs []Pair) error {
	for _, p := range pairs {
		if p.Bucket != "" {
			nb, err := b.CreateBucketIfNotExists([]byte(p.Bucket))
			if err != nil {
				return err
			}
			if err := putPairs(nb, p.Pairs); err != nil {
				return fmt.Errorf("bucket %q: %w", p.Bucket, err)
			}
			continue
		}
		if p.Key == "" {
			return fmt.Errorf("an entry has neither bucket nor key")
		}
		v, err := json.Marshal(p.Value)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(p.Key), v); err != nil {
			return err
		}
	}
	return nil
}

// WriteDB builds a vulnerability database from fixtures in
// cacheDir/db (trivy.db and metadata.json), where Trivy and image-scan look
// for it. The metadata says the database is current for a day, so nothing
// tries to update it.
func WriteDB(cacheDir string, files ...string) error {
	dbDir := filepath.Join(cacheDir, "db")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return err
	}
	if err := LoadFixtures(trivydb.Path(dbDir), files...); err != nil {
		return err
	}
	now := time.Now().UTC()
	return metadata.NewClient(dbDir).Update(metadata.Metadata{
		Version:      trivydb.SchemaVersion,
		NextUpdate:   now.Add(24 * time.Hour),
		UpdatedAt:    now,
		DownloadedAt: now,
	})
}

// DBArtifact packages the database built from fixtures as the OCI artifact
// Trivy downloads (one gzipped tar layer, titled db.tar.gz, holding
// trivy.db and metadata.json). The metadata has no DownloadedAt: the
// downloader sets it.
func DBArtifact(files ...string) (v1.Image, error) {
	dir, err := os.MkdirTemp("", "trivytest-db-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := LoadFixtures(trivydb.Path(dir), files...); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if err := metadata.NewClient(dir).Update(metadata.Metadata{
		Version:    trivydb.SchemaVersion,
		NextUpdate: now.Add(24 * time.Hour),
		UpdatedAt:  now,
	}); err != nil {
		return nil, err
	}
	var files2 []tarFile
	for _, name := range []string{"trivy.db", "metadata.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		files2 = append(files2, tarFile{name: name, body: b, mode: 0o644})
	}
	raw, err := tarBytes(files2)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.MediaType(DBConfigMediaType))
	return mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(gz.Bytes(), types.MediaType(DBLayerMediaType)),
		Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"},
	})
}

type tarFile struct {
	name string
	body []byte
	mode int64
	dir  bool
}

func tarBytes(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(f.body))}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.dir {
			if _, err := tw.Write(f.body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
