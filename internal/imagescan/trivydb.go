package imagescan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/db"
	"github.com/mlship/mlship/internal/imagescan/internal/trivy/oci"
	bolt "go.etcd.io/bbolt"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/version"
	"github.com/mlship/mlship/internal/wait"
)

// DefaultDBRepositories are where the vulnerability database is fetched
// from, in order: the same list, and order, as the Trivy CLI.
var DefaultDBRepositories = []string{db.DefaultGCRRepository, db.DefaultGHCRRepository}

// dbAttempts is how many times one repository is tried while it answers
// that it is rate limited or temporarily unavailable.
const dbAttempts = 3

// dbOptions say where the database lives and where it comes from.
type dbOptions struct {
	CacheDir     string
	SkipUpdate   bool
	Repositories []string
	Transport    http.RoundTripper
	// RetryDelay is the first wait after a rate-limited attempt; it
	// doubles with each attempt, with jitter.
	RetryDelay time.Duration
	Logf       func(string, ...any)
}

// dbInfo describes the database a scan used.
type dbInfo struct {
	UpdatedAt    time.Time `json:"updatedAt"`
	NextUpdate   time.Time `json:"nextUpdate"`
	DownloadedAt time.Time `json:"downloadedAt"`
	Repository   string    `json:"repository,omitempty"` // when downloaded by this run
}

// ensureDB makes sure a current vulnerability database is in
// o.CacheDir/db, downloading it when missing or out of date (unless
// SkipUpdate). Any failure is exit 3: a scan without a database would
// report an image as clean.
func ensureDB(ctx context.Context, o dbOptions) (dbInfo, error) {
	dbDir := db.Dir(o.CacheDir)
	client := db.NewClient(dbDir, true)
	needs, err := client.NeedsUpdate(ctx, version.String(), o.SkipUpdate)
	if err != nil {
		if o.SkipUpdate {
			return dbInfo{}, exitcode.Incompletef("vulnerability database in %s cannot be used with --skip-db-update: %w", dbDir, err)
		}
		return dbInfo{}, exitcode.Incompletef("checking the vulnerability database in %s: %w", dbDir, err)
	}
	var info dbInfo
	if needs {
		repo, err := downloadDB(ctx, o, dbDir)
		if err != nil {
			return dbInfo{}, err
		}
		info.Repository = repo
	}
	meta, err := metadata.NewClient(dbDir).Get()
	if err != nil {
		return dbInfo{}, exitcode.Incompletef("reading the vulnerability database metadata in %s: %w", dbDir, err)
	}
	info.UpdatedAt, info.NextUpdate, info.DownloadedAt = meta.UpdatedAt, meta.NextUpdate, meta.DownloadedAt
	return info, nil
}

// downloadDB fetches the database from the first repository that serves
// it, retrying a repository that is rate limited (TOOMANYREQUESTS) or
// temporarily unavailable before falling back to the next. The download
// lands in a temporary directory and replaces the database only when
// complete, so a failed download never leaves half a database behind.
func downloadDB(ctx context.Context, o dbOptions, dbDir string) (string, error) {
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return "", exitcode.Incompletef("creating cache directory: %w", err)
	}
	tmp, err := os.MkdirTemp(o.CacheDir, "db-download-")
	if err != nil {
		return "", exitcode.Incompletef("creating a download directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	var errs []error
	for _, repo := range o.Repositories {
		ref, err := name.ParseReference(repo)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", repo, err))
			continue
		}
		for attempt := 1; ; attempt++ {
			o.Logf("Downloading the vulnerability database from %s", repo)
			err = fetchDB(ctx, ref, tmp, o.Transport)
			if err == nil {
				if err := installDB(tmp, dbDir); err != nil {
					return "", exitcode.Incompletef("installing the vulnerability database: %w", err)
				}
				return repo, nil
			}
			if ctx.Err() != nil {
				return "", exitcode.Incompletef("downloading the vulnerability database from %s: %w", repo, err)
			}
			if !retryable(err) || attempt == dbAttempts {
				break
			}
			delay := backoff(o.RetryDelay, attempt)
			o.Logf("%s: %s; retrying in %s", repo, shortReason(err), delay.Round(time.Millisecond))
			if err := wait.Sleep(ctx, delay); err != nil {
				return "", exitcode.Incompletef("downloading the vulnerability database: %w", err)
			}
		}
		o.Logf("Could not download the vulnerability database from %s: %s", repo, shortReason(err))
		errs = append(errs, fmt.Errorf("%s: %w", repo, err))
	}
	if len(errs) == 0 {
		return "", exitcode.Incompletef("downloading the vulnerability database: no repository configured")
	}
	return "", exitcode.Incompletef("downloading the vulnerability database failed from every repository: %w", errors.Join(errs...))
}

// fetchDB downloads the database artifact ref into dir, using Trivy's own
// extraction and metadata handling. The registry client does not retry by
// itself: downloadDB decides, so that the wait is visible and bounded.
func fetchDB(ctx context.Context, ref name.Reference, dir string, tr http.RoundTripper) error {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryStatusCodes(),
	}
	if tr != nil {
		opts = append(opts, remote.WithTransport(tr))
	}
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return err
	}
	art := oci.NewArtifact(ref.String(), ftypes.RegistryOptions{}, oci.WithImage(img))
	return db.NewClient(dir, true, db.WithOCIArtifact(art)).Download(ctx, dir, ftypes.RegistryOptions{})
}

func installDB(from, dbDir string) error {
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return err
	}
	// The database first, then the metadata that vouches for it.
	for _, f := range []string{"trivy.db", "metadata.json"} {
		if err := os.Rename(filepath.Join(from, f), filepath.Join(dbDir, f)); err != nil {
			return err
		}
	}
	return nil
}

// retryable reports whether a registry error is worth another attempt at
// the same repository: rate limiting and temporary unavailability.
func retryable(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	return terr.StatusCode == http.StatusTooManyRequests || terr.Temporary()
}

func shortReason(err error) string {
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			if d.Code == transport.TooManyRequestsErrorCode {
				return "rate limited (TOOMANYREQUESTS)"
			}
		}
		if terr.StatusCode == http.StatusTooManyRequests {
			return "rate limited (HTTP 429)"
		}
	}
	return err.Error()
}

// backoff is base doubled per attempt, with up to 20% jitter.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << (attempt - 1)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// openDB opens the database read-only and checks that it holds
// vulnerability data. bbolt would otherwise create an empty database, and
// an empty database finds nothing.
func openDB(cacheDir string) error {
	dbDir := db.Dir(cacheDir)
	path := trivydb.Path(dbDir)
	if _, err := os.Stat(path); err != nil {
		return exitcode.Incompletef("loading the vulnerability database: %w", err)
	}
	if err := trivydb.Init(dbDir, trivydb.WithBoltOptions(&bolt.Options{ReadOnly: true, Timeout: time.Minute})); err != nil {
		return exitcode.Incompletef("loading the vulnerability database %s: %w", path, err)
	}
	err := trivydb.Config{}.Connection().View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("vulnerability")) == nil || tx.Bucket([]byte("data-source")) == nil {
			return errors.New("it holds no vulnerability data")
		}
		return nil
	})
	if err != nil {
		_ = trivydb.Close()
		return exitcode.Incompletef("loading the vulnerability database %s: %w", path, err)
	}
	return nil
}
