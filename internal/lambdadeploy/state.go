package lambdadeploy

import (
	"maps"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
)

// recordState fills in the previous-state record from what was read.
func (dp *deployer) recordState() {
	p := dp.p
	st := lambdaalias.PreviousState{
		Schema:       lambdaalias.StateSchema,
		RecordedAt:   time.Now().UTC(),
		FunctionName: aws.ToString(dp.latest.FunctionName),
		FunctionARN:  aws.ToString(dp.latest.FunctionArn),
		KeptVersion:  dp.state.KeptVersion,
		Latest: lambdaalias.LatestState{
			ImageURI:         aws.ToString(dp.code.ImageUri),
			ResolvedImageURI: aws.ToString(dp.code.ResolvedImageUri),
			CodeSha256:       aws.ToString(dp.latest.CodeSha256),
			RevisionID:       aws.ToString(dp.latest.RevisionId),
			Environment:      lambdaalias.Environment(maps.Clone(envOf(dp.latest))),
		},
		Deploy: lambdaalias.DeployState{
			ImageURI: dp.img.String(), ImageTag: dp.img.Tag, ImageDigest: dp.img.Digest,
			Strategy: p.strategy, ReplaceEnvironment: p.replaceEnv,
		},
	}
	if st.Latest.Environment == nil {
		st.Latest.Environment = lambdaalias.Environment{}
	}
	if e := dp.latest.Environment; e != nil && e.Error != nil {
		st.Latest.Environment = nil
		st.Latest.EnvironmentError = aws.ToString(e.Error.ErrorCode) + ": " + aws.ToString(e.Error.Message)
	}
	if p.hasAlias() {
		st.Alias = &lambdaalias.AliasState{Name: p.alias, Exists: dp.alias != nil}
		if dp.alias != nil {
			st.Alias.FunctionVersion = dp.aliasBefore.Version
			st.Alias.AdditionalVersionWeights = maps.Clone(dp.aliasBefore.Weights)
			st.Alias.RevisionID = dp.aliasBefore.RevisionID
		}
	}
	dp.state = st
}

// writeState records the previous state in the state file (0600, by an
// atomic rename).
func (dp *deployer) writeState() error {
	dp.recordState()
	if dp.p.stateFile == "" {
		return nil
	}
	if err := lambdaalias.WriteState(dp.p.stateFile, &dp.state); err != nil {
		return exitcode.Incompletef("recording the previous state: %w", err)
	}
	dp.res.PreviousStateFile = dp.p.stateFile
	return nil
}

// prepareFiles writes the previous state and creates the response file,
// so that neither can fail after something has changed.
func (dp *deployer) prepareFiles() error {
	if err := dp.writeState(); err != nil {
		return exitcode.Incompletef("%w; nothing was changed", err)
	}
	if dp.p.responseFile != "" {
		f, err := os.OpenFile(dp.p.responseFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			return exitcode.Incompletef("creating the smoke response file before any change: %w; nothing was changed", err)
		}
	}
	return nil
}
