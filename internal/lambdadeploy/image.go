package lambdadeploy

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
	"github.com/mlship/mlship/internal/ssmclient"
)

// resolveImage finds the image to deploy (from the URI, the repository and
// tag, or the SSM parameter) and checks that it exists in ECR. The digest
// ECR reports is what is deployed: a tag moved afterwards changes nothing.
func (dp *deployer) resolveImage(ctx context.Context) error {
	p := dp.p
	var img ecrref.Image
	switch {
	case p.image != nil:
		img = *p.image
	case p.tagParameter != "":
		val, err := dp.readParameter(ctx)
		if err != nil {
			return err
		}
		img = val
	default:
		img = dp.repoImage(p.tag)
	}

	in := &ecr.DescribeImagesInput{RepositoryName: aws.String(img.Repository)}
	if img.Host.Account != "" {
		in.RegistryId = aws.String(img.Host.Account)
	}
	id := ecrtypes.ImageIdentifier{}
	if img.Digest != "" {
		id.ImageDigest = aws.String(img.Digest)
	}
	if img.Tag != "" {
		id.ImageTag = aws.String(img.Tag)
	}
	in.ImageIds = []ecrtypes.ImageIdentifier{id}
	out, err := dp.d.ECR.DescribeImages(ctx, in)
	var inf *ecrtypes.ImageNotFoundException
	var rnf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &inf), errors.As(err, &rnf):
		return exitcode.Failedf("checking the image: %s does not exist in ECR (%s); nothing was changed", imageName(img), lambdaalias.APIMessage(err))
	case err != nil:
		return exitcode.Incompletef("checking the image %s in ECR: %w", imageName(img), err)
	case len(out.ImageDetails) == 0 || !ecrref.ValidDigest(aws.ToString(out.ImageDetails[0].ImageDigest)):
		return exitcode.Failedf("checking the image: ECR returned no digest for %s; nothing was changed", imageName(img))
	}
	det := out.ImageDetails[0]
	img.Digest = aws.ToString(det.ImageDigest)
	if img.Host.Name == "" {
		h, ok := ecrref.ParseHost(registryHost(aws.ToString(det.RegistryId), dp.d.Region))
		if !ok {
			return exitcode.Incompletef("checking the image %s: ECR returned registry %q, which makes no ECR host in %s", imageName(img), aws.ToString(det.RegistryId), dp.d.Region)
		}
		img.Host = h
	}
	dp.img = img
	dp.res.ImageURI = img.String()
	dp.res.ImageTag = img.Tag
	dp.res.ImageDigest = img.Digest
	if img.Tag != "" {
		dp.log.Logf("image %s:%s exists in ECR: deploying it by digest, %s", img.Repo(), img.Tag, img.String())
	} else {
		dp.log.Logf("image %s exists in ECR", img.String())
	}
	return nil
}

// repoImage is the image tag in --repository (a name: the registry of the
// clients' account, known once ECR answers).
func (dp *deployer) repoImage(tag string) ecrref.Image {
	img := ecrref.Image{Repository: dp.p.repository, Tag: tag}
	if dp.p.repoHost != nil {
		img.Host = *dp.p.repoHost
	}
	return img
}

// readParameter reads the tag (or, without --repository, the whole image
// URI) from SSM and checks it before anything shows it.
func (dp *deployer) readParameter(ctx context.Context) (ecrref.Image, error) {
	name := dp.p.tagParameter
	if dp.d.SSM == nil {
		return ecrref.Image{}, exitcode.Incompletef("reading SSM parameter %s: no SSM client", name)
	}
	param, found, err := dp.d.SSM.GetParameter(ctx, name, true)
	switch {
	case err != nil:
		return ecrref.Image{}, exitcode.Incompletef("reading SSM parameter %s: %w", name, err)
	case !found:
		return ecrref.Image{}, bad("tag-parameter", name, "SSM parameter does not exist")
	case strings.TrimSpace(param.Value) == "":
		return ecrref.Image{}, bad("tag-parameter", name, "SSM parameter is empty")
	}
	val := strings.TrimSpace(param.Value)
	// A SecureString's value is never shown, even when it is wrong.
	shown := quote(val)
	if param.Type == ssmclient.TypeSecureString {
		shown = "a SecureString value"
	}
	var img ecrref.Image
	if dp.p.repository == "" {
		img, err = ecrref.ParseImage(val)
		if err != nil {
			return ecrref.Image{}, bad("tag-parameter", name, "SSM parameter holds %s, which is not an ECR image URI (give --repository when it holds a tag)", shown)
		}
		if img.Host.Region != dp.d.Region && dp.d.Region != "" {
			return ecrref.Image{}, bad("tag-parameter", name, "SSM parameter holds an image in %s, not in the function's region %s", img.Host.Region, dp.d.Region)
		}
	} else {
		if !ecrref.ValidTag(val) {
			return ecrref.Image{}, bad("tag-parameter", name, "SSM parameter holds %s, which is not an image tag", shown)
		}
		img = dp.repoImage(val)
	}
	dp.log.Logf("SSM parameter %s holds %s", name, val)
	return img, nil
}

// registryHost is the ECR registry host of an account in region.
func registryHost(account, region string) string {
	suffix := "amazonaws.com"
	switch {
	case strings.HasPrefix(region, "cn-"):
		suffix = "amazonaws.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		suffix = "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-iso-"):
		suffix = "c2s.ic.gov"
	}
	return account + ".dkr.ecr." + region + "." + suffix
}

// imageName names an image as it was asked for.
func imageName(img ecrref.Image) string {
	name := img.Repository
	if img.Host.Name != "" {
		name = img.Repo()
	}
	if img.Tag != "" {
		name += ":" + img.Tag
	}
	if img.Digest != "" {
		name += "@" + img.Digest
	}
	return name
}
