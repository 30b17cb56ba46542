package all

import (
	_ "github.com/mlship/mlship/internal/imagescan/internal/trivy/fanal/handler/sysfile"
)
