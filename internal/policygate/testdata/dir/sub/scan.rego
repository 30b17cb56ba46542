package release.scan

import rego.v1

deny contains {"msg": sprintf("%d critical vulnerabilities", [input.critical]), "severity": "CRITICAL"} if input.critical > 0
