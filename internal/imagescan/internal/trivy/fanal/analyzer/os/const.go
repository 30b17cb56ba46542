package os

import "golang.org/x/xerrors"

var AnalyzeOSError = xerrors.New("unable to analyze OS information")
