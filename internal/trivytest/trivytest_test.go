package trivytest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestWriteDB(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	if err := WriteDB(cache, AlpineFixture); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(cache, "db", "trivy.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte("alpine 3.21")).Bucket([]byte("openssl")).Get([]byte("CVE-2099-0001"))
		var adv struct{ FixedVersion string }
		if err := json.Unmarshal(v, &adv); err != nil {
			return err
		}
		if adv.FixedVersion != "3.3.2-r5" {
			t.Errorf("fixed version %q", adv.FixedVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "db", "metadata.json")); err != nil {
		t.Fatal(err)
	}
}

func TestDBArtifact(t *testing.T) {
	t.Parallel()
	img, err := DBArtifact(AlpineFixture)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || string(m.Layers[0].MediaType) != DBLayerMediaType ||
		m.Layers[0].Annotations["org.opencontainers.image.title"] != "db.tar.gz" || string(m.Config.MediaType) != DBConfigMediaType {
		t.Errorf("manifest %+v", m)
	}
}

func TestAlpineImage(t *testing.T) {
	t.Parallel()
	img, err := AlpineImage(AlpinePackages, map[string]string{"/app/model.bin": "x"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteOCILayout(filepath.Join(dir, "layout"), img, "1.0"); err != nil {
		t.Fatal(err)
	}
	if err := WriteTarball(filepath.Join(dir, "image.tar"), img, "example.com/app:1.0"); err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("config %+v", cf)
	}
}
