// Package all registers the analyzers of an image vulnerability scan: those
// of trivy's analyzer/all that `trivy image --scanners vuln` leaves enabled.
package all

import (
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/buildinfo"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/imgconf/secret"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/conda/meta"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/dotnet/deps"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/dotnet/nuget"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/dotnet/packagesprops"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/golang/binary"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/java/jar"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/julia/pkg"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/nodejs/pkg"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/php/composer"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/python/packaging"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/ruby/gemspec"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/rust/binary"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/language/rust/cargo"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/os/alpine"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/os/amazonlinux"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/os/debian"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/os/redhatbase"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/os/release"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/os/ubuntu"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/pkg/apk"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/pkg/bottlerocket_inventory"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/pkg/dpkg"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/pkg/rpm"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/repo/apk"
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/analyzer/sbom"
)
