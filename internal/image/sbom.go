package image

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// spdxDoc is an SPDX 2.3 document, the parts of it the SBOM fills.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string            `json:"name"`
	SPDXID           string            `json:"SPDXID"`
	VersionInfo      string            `json:"versionInfo,omitempty"`
	Supplier         string            `json:"supplier,omitempty"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	LicenseConcluded string            `json:"licenseConcluded"`
	LicenseDeclared  string            `json:"licenseDeclared"`
	CopyrightText    string            `json:"copyrightText"`
	PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	Comment          string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var notSPDXID = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(parts ...string) string {
	return "SPDXRef-" + strings.Trim(notSPDXID.ReplaceAllString(strings.Join(parts, "-"), "-"), "-")
}

const noAssertion = "NOASSERTION"

// SBOM describes the image in SPDX 2.3: the image (a container), each
// tool's binary on each platform (with its SHA-256), the Go modules and
// standard library each binary was built from (read from the binary's own
// build information, with their package URLs) and the CA roots' module.
// name is the image's name (ghcr.io/mlship/mlship), digest the index's.
func (im *Image) SBOM(name string) ([]byte, error) {
	cfg := im.cfg
	digest, err := im.Index.Digest()
	if err != nil {
		return nil, err
	}
	doc := spdxDoc{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              name + ":" + cfg.Version,
		DocumentNamespace: strings.TrimSuffix(cfg.Source, "/") + "/spdx/" + cfg.Version + "/" + digest.Hex,
		CreationInfo: spdxCreationInfo{
			Created:  cfg.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Organization: mlship", "Tool: mlship-image-build"},
		},
	}
	imageID := spdxID("image")
	doc.Packages = append(doc.Packages, spdxPackage{
		Name:             name,
		SPDXID:           imageID,
		VersionInfo:      cfg.Version,
		DownloadLocation: noAssertion,
		Checksums:        []spdxChecksum{{Algorithm: "SHA256", Value: digest.Hex}},
		LicenseConcluded: noAssertion,
		LicenseDeclared:  "MIT",
		CopyrightText:    noAssertion,
		PrimaryPurpose:   "CONTAINER",
		ExternalRefs: []spdxExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl",
			Locator: "pkg:oci/mlship@" + digest.String() + "?repository_url=" + strings.TrimSuffix(name, "/mlship")}},
	})
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", imageID})

	modules := map[string]spdxPackage{} // by SPDX id, shared by the binaries
	depends := map[string][]string{}    // binary id -> module ids
	for _, p := range cfg.Platforms {
		for _, tool := range cfg.Tools {
			path := filepath.Join(p.BinDir, tool)
			sum, err := fileSHA256(path)
			if err != nil {
				return nil, fmt.Errorf("SBOM: %w", err)
			}
			bi, err := buildinfo.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("SBOM: %s: %w", path, err)
			}
			binID := spdxID("binary", tool, p.OS, p.Architecture)
			doc.Packages = append(doc.Packages, spdxPackage{
				Name:             tool,
				SPDXID:           binID,
				VersionInfo:      cfg.Version,
				Supplier:         "Organization: mlship",
				DownloadLocation: noAssertion,
				Checksums:        []spdxChecksum{{Algorithm: "SHA256", Value: sum}},
				LicenseConcluded: noAssertion,
				LicenseDeclared:  "MIT",
				CopyrightText:    noAssertion,
				PrimaryPurpose:   "APPLICATION",
				Comment:          BinDir + "/" + tool + " on " + p.String(),
			})
			doc.Relationships = append(doc.Relationships, spdxRelationship{imageID, "CONTAINS", binID})
			std := goModule("stdlib", strings.TrimPrefix(bi.GoVersion, "go"), "")
			for _, m := range append([]spdxPackage{std}, buildModules(bi)...) {
				modules[m.SPDXID] = m
				depends[binID] = append(depends[binID], m.SPDXID)
			}
		}
	}
	ca := caModule()
	modules[ca.SPDXID] = ca
	doc.Relationships = append(doc.Relationships, spdxRelationship{imageID, "CONTAINS", ca.SPDXID})

	ids := make([]string, 0, len(modules))
	for id := range modules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		doc.Packages = append(doc.Packages, modules[id])
	}
	for _, p := range doc.Packages {
		for _, m := range depends[p.SPDXID] {
			doc.Relationships = append(doc.Relationships, spdxRelationship{p.SPDXID, "DEPENDS_ON", m})
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// buildModules are the main module and the dependencies a Go binary was
// built from (a replaced module as its replacement).
func buildModules(bi *buildinfo.BuildInfo) []spdxPackage {
	var out []spdxPackage
	if bi.Main.Path != "" { // "" for a program built from files, not a module
		out = append(out, goModule(bi.Main.Path, bi.Main.Version, bi.Main.Sum))
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		out = append(out, goModule(d.Path, d.Version, d.Sum))
	}
	return out
}

func goModule(path, version, sum string) spdxPackage {
	purl := "pkg:golang/" + path
	if version != "" && version != "(devel)" {
		purl += "@" + version
	} else {
		version = ""
	}
	p := spdxPackage{
		Name:             path,
		SPDXID:           spdxID("go", path, version),
		VersionInfo:      version,
		DownloadLocation: noAssertion,
		LicenseConcluded: noAssertion,
		LicenseDeclared:  noAssertion,
		CopyrightText:    noAssertion,
		PrimaryPurpose:   "LIBRARY",
		ExternalRefs:     []spdxExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl}},
	}
	if path != "stdlib" && version != "" {
		p.DownloadLocation = "https://proxy.golang.org/" + path + "/@v/" + version + ".zip"
	}
	if sum != "" {
		p.Comment = "go.sum " + sum
	}
	return p
}

// caModule is the module the CA bundle comes from, as this program was
// built with it.
func caModule() spdxPackage {
	version := ""
	if _, v, ok := strings.Cut(caSource(), " "); ok {
		version = v
	}
	p := goModule(fallbackModule, version, "")
	p.PrimaryPurpose = "DATA"
	p.Comment = "the CA roots in " + CAFile + " (Mozilla NSS trust store)"
	return p
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
