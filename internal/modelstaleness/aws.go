package modelstaleness

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/exitcode"
)

// The AWS calls each source and notification makes.
type (
	S3API interface {
		HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
		ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	}
	ECRAPI interface {
		DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
	}
	SSMAPI interface {
		GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	}
	SageMakerAPI interface {
		ListModelPackages(context.Context, *sagemaker.ListModelPackagesInput, ...func(*sagemaker.Options)) (*sagemaker.ListModelPackagesOutput, error)
		DescribeModelPackageGroup(context.Context, *sagemaker.DescribeModelPackageGroupInput, ...func(*sagemaker.Options)) (*sagemaker.DescribeModelPackageGroupOutput, error)
	}
	SNSAPI interface {
		Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
	}
	SESAPI interface {
		SendEmail(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
	}
)

// awsErr turns an AWS error (already retried by the SDK) into exit 3 with
// the service's code and message.
func awsErr(ctx context.Context, doing string, err error) error {
	var api smithy.APIError
	switch {
	case ctx.Err() != nil:
		return exitcode.Incompletef("%s: %v", doing, ctx.Err())
	case errors.As(err, &api):
		if msg := api.ErrorMessage(); msg != "" {
			return exitcode.Incompletef("%s: %s: %s", doing, api.ErrorCode(), msg)
		}
		return exitcode.Incompletef("%s: %s", doing, api.ErrorCode())
	}
	return exitcode.Incompletef("%s: %v", doing, err)
}

// s3LastChange is the LastModified of the object, or of the newest object
// under the prefix (folder markers, keys ending in "/", left out).
func s3LastChange(ctx context.Context, api S3API, m *Model) (*change, error) {
	uri := m.Spec.S3URI
	if !m.prefix {
		out, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(m.bucket), Key: aws.String(m.key)})
		var nf *s3types.NotFound
		var nsk *s3types.NoSuchKey
		switch {
		case errors.As(err, &nf) || errors.As(err, &nsk):
			return nil, exitcode.BadInputf("%s %q: no such object (or bucket); for the newest object under a prefix, end it with /", m.opt("s3-uri"), uri)
		case err != nil:
			return nil, awsErr(ctx, "reading "+uri, err)
		case out.LastModified == nil:
			return nil, exitcode.Incompletef("reading %s: S3 returned no LastModified", uri)
		}
		return &change{at: *out.LastModified, item: m.key}, nil
	}
	var newest *s3types.Object
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(m.bucket), Prefix: aws.String(m.key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		var nb *s3types.NoSuchBucket
		switch {
		case errors.As(err, &nb):
			return nil, exitcode.BadInputf("%s %q: no such bucket %s", m.opt("s3-uri"), uri, m.bucket)
		case err != nil:
			return nil, awsErr(ctx, "listing "+uri, err)
		}
		for i := range page.Contents {
			o := &page.Contents[i]
			if o.LastModified == nil || strings.HasSuffix(aws.ToString(o.Key), "/") {
				continue
			}
			if newest == nil || o.LastModified.After(*newest.LastModified) {
				newest = o
			}
		}
	}
	if newest == nil {
		return nil, exitcode.BadInputf("%s %q: no object under the prefix", m.opt("s3-uri"), uri)
	}
	return &change{at: *newest.LastModified, item: aws.ToString(newest.Key)}, nil
}

// ecrLastChange is the push time of the image, or of the newest tagged
// image in the repository.
func ecrLastChange(ctx context.Context, api ECRAPI, m *Model) (*change, error) {
	img := m.image
	in := &ecr.DescribeImagesInput{RepositoryName: aws.String(img.repository)}
	if img.registryID != "" {
		in.RegistryId = aws.String(img.registryID)
	}
	switch {
	case img.digest != "":
		in.ImageIds = []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(img.digest)}}
	case img.tag != "":
		in.ImageIds = []ecrtypes.ImageIdentifier{{ImageTag: aws.String(img.tag)}}
	default:
		in.Filter = &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusTagged}
	}
	var newest *ecrtypes.ImageDetail
	p := ecr.NewDescribeImagesPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		var rnf *ecrtypes.RepositoryNotFoundException
		var inf *ecrtypes.ImageNotFoundException
		switch {
		case errors.As(err, &rnf):
			return nil, exitcode.BadInputf("%s %q: no such ECR repository %s", m.opt("image"), m.Spec.Image, img.repository)
		case errors.As(err, &inf):
			return nil, exitcode.BadInputf("%s %q: no such image in %s", m.opt("image"), m.Spec.Image, img.repository)
		case err != nil:
			return nil, awsErr(ctx, "describing "+img.String(), err)
		}
		for i := range page.ImageDetails {
			d := &page.ImageDetails[i]
			if d.ImagePushedAt == nil {
				continue
			}
			if newest == nil || d.ImagePushedAt.After(*newest.ImagePushedAt) {
				newest = d
			}
		}
	}
	if newest == nil {
		return nil, exitcode.BadInputf("%s %q: the repository holds no tagged image", m.opt("image"), m.Spec.Image)
	}
	item := aws.ToString(newest.ImageDigest)
	if len(newest.ImageTags) > 0 {
		item = strings.Join(newest.ImageTags, ",") + " " + item
	}
	return &change{at: *newest.ImagePushedAt, item: item}, nil
}

// ssmLastChange is the parameter's LastModifiedDate. The value is not
// decrypted and never printed.
func ssmLastChange(ctx context.Context, api SSMAPI, m *Model) (*change, error) {
	name := m.Spec.Parameter
	out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(false)})
	var nf *ssmtypes.ParameterNotFound
	var vnf *ssmtypes.ParameterVersionNotFound
	switch {
	case errors.As(err, &nf) || errors.As(err, &vnf):
		return nil, exitcode.BadInputf("%s %q: no such SSM parameter", m.opt("parameter"), name)
	case err != nil:
		return nil, awsErr(ctx, "reading SSM parameter "+name, err)
	case out.Parameter == nil || out.Parameter.LastModifiedDate == nil:
		return nil, exitcode.Incompletef("reading SSM parameter %s: no LastModifiedDate in the answer", name)
	}
	return &change{at: *out.Parameter.LastModifiedDate, item: fmt.Sprintf("version %d", out.Parameter.Version)}, nil
}

// sageMakerLastChange is the creation time of the newest model package in
// the group (only approved ones with ApprovedOnly).
func sageMakerLastChange(ctx context.Context, api SageMakerAPI, m *Model) (*change, error) {
	group := m.Spec.ModelPackageGroup
	in := &sagemaker.ListModelPackagesInput{
		ModelPackageGroupName: aws.String(group),
		ModelPackageType:      smtypes.ModelPackageTypeVersioned,
		SortBy:                smtypes.ModelPackageSortByCreationTime,
		SortOrder:             smtypes.SortOrderDescending,
		MaxResults:            aws.Int32(1),
	}
	if m.Spec.ApprovedOnly {
		in.ModelApprovalStatus = smtypes.ModelApprovalStatusApproved
	}
	// SageMaker answers a group that is not there with ValidationException
	// ("ModelPackageGroup ... does not exist."); ResourceNotFound is taken
	// the same way.
	notFound := func(err error) error {
		var api smithy.APIError
		if !errors.As(err, &api) {
			return nil
		}
		var rnf *smtypes.ResourceNotFound
		if errors.As(err, &rnf) || api.ErrorCode() == "ValidationException" {
			return exitcode.BadInputf("%s %q: no such model package group (%s)", m.opt("model-package-group"), group, api.ErrorMessage())
		}
		return nil
	}
	out, err := api.ListModelPackages(ctx, in)
	if err != nil {
		if nf := notFound(err); nf != nil {
			return nil, nf
		}
		return nil, awsErr(ctx, "listing the model packages of "+group, err)
	}
	var newest *smtypes.ModelPackageSummary
	for i := range out.ModelPackageSummaryList {
		s := &out.ModelPackageSummaryList[i]
		if s.CreationTime != nil && (newest == nil || s.CreationTime.After(*newest.CreationTime)) {
			newest = s
		}
	}
	if newest == nil {
		// An empty list: tell a group without (approved) packages from a
		// group that is not there.
		_, err := api.DescribeModelPackageGroup(ctx, &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String(group)})
		if nf := notFound(err); nf != nil {
			return nil, nf
		}
		switch {
		case err != nil:
			return nil, awsErr(ctx, "describing model package group "+group, err)
		case m.Spec.ApprovedOnly:
			return nil, exitcode.BadInputf("%s %q: the group holds no approved model package", m.opt("model-package-group"), group)
		}
		return nil, exitcode.BadInputf("%s %q: the group holds no model package", m.opt("model-package-group"), group)
	}
	item := aws.ToString(newest.ModelPackageArn)
	if v := newest.ModelPackageVersion; v != nil {
		item = fmt.Sprintf("version %d (%s)", *v, item)
	}
	return &change{at: *newest.CreationTime, item: item}, nil
}
