package cache

import (
	"golang.org/x/xerrors"

	"github.com/aquasecurity/trivy/pkg/log"
)

// NewFS returns the file system cache in cacheDir, as trivy's cache.New
// does for the "fs" backend (the only one here: no Redis, no remote cache).
func NewFS(cacheDir string) (Cache, func(), error) {
	log.Debug("Initializing scan cache...", log.String("type", "fs"))
	fsCache, err := NewFSCache(cacheDir)
	if err != nil {
		return nil, func() {}, xerrors.Errorf("unable to initialize fs cache: %w", err)
	}
	return fsCache, func() { _ = fsCache.Close() }, nil
}
