package modelstaleness

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// The fakes below model the calls model-staleness makes as the services
// document them: their not-found and refusal errors are the SDK's own
// types (or, where the service answers with a generic code, a
// smithy.GenericAPIError with that code), so errors.As works as against
// the service.

// ---- SSM ----

type ssmFake struct {
	mu     sync.Mutex
	params map[string][]ssmtypes.Parameter // versions, oldest first
	calls  []ssm.GetParameterInput
}

func newSSMFake() *ssmFake { return &ssmFake{params: map[string][]ssmtypes.Parameter{}} }

// put stores a new version of a parameter at the given time.
func (f *ssmFake) put(name, value string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := int64(len(f.params[name]) + 1)
	f.params[name] = append(f.params[name], ssmtypes.Parameter{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString,
		Version: v, LastModifiedDate: aws.Time(at), DataType: aws.String("text"),
		ARN: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter" + name),
	})
}

// GetParameter resolves NAME, NAME:VERSION or NAME:LABEL (labels are not
// modelled: ParameterVersionNotFound) as SSM does.
func (f *ssmFake) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, *in)
	name := aws.ToString(in.Name)
	sel := ""
	if i := strings.LastIndex(name, ":"); i > 0 && !strings.HasPrefix(name, "arn:") {
		name, sel = name[:i], name[i+1:]
	}
	versions, ok := f.params[name]
	if !ok {
		return nil, &ssmtypes.ParameterNotFound{}
	}
	p := versions[len(versions)-1]
	if sel != "" {
		n, err := strconv.Atoi(sel)
		if err != nil || n < 1 || n > len(versions) {
			return nil, &ssmtypes.ParameterVersionNotFound{Message: aws.String(fmt.Sprintf("Systems Manager could not find version %s of %s. Verify the version and try again.", sel, name))}
		}
		p = versions[n-1]
		p.Selector = aws.String(":" + sel)
	}
	if p.Type == ssmtypes.ParameterTypeSecureString && !aws.ToBool(in.WithDecryption) {
		p.Value = aws.String("AQICAHh-ciphertext")
	}
	return &ssm.GetParameterOutput{Parameter: &p}, nil
}

// ---- SageMaker ----

type sageMakerFake struct {
	mu     sync.Mutex
	groups map[string][]smtypes.ModelPackageSummary
	calls  []string
}

func newSageMakerFake() *sageMakerFake {
	return &sageMakerFake{groups: map[string][]smtypes.ModelPackageSummary{}}
}

func (f *sageMakerFake) addGroup(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.groups[name]; !ok {
		f.groups[name] = nil
	}
}

// register adds a model package version to a group.
func (f *sageMakerFake) register(group string, at time.Time, status smtypes.ModelApprovalStatus) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := int32(len(f.groups[group]) + 1)
	arn := fmt.Sprintf("arn:aws:sagemaker:us-east-1:123456789012:model-package/%s/%d", group, v)
	f.groups[group] = append(f.groups[group], smtypes.ModelPackageSummary{
		ModelPackageGroupName: aws.String(group), ModelPackageVersion: aws.Int32(v), ModelPackageArn: aws.String(arn),
		CreationTime: aws.Time(at), ModelPackageStatus: smtypes.ModelPackageStatusCompleted, ModelApprovalStatus: status,
	})
	return arn
}

func groupName(s string) string {
	if i := strings.LastIndex(s, "/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		return s[i+1:]
	}
	return s
}

// ListModelPackages filters by group (a group that is not there lists
// nothing, as the service does), approval status and type, sorts, and
// pages with MaxResults and NextToken.
func (f *sageMakerFake) ListModelPackages(_ context.Context, in *sagemaker.ListModelPackagesInput, _ ...func(*sagemaker.Options)) (*sagemaker.ListModelPackagesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "ListModelPackages")
	var out []smtypes.ModelPackageSummary
	for _, s := range f.groups[groupName(aws.ToString(in.ModelPackageGroupName))] {
		if in.ModelApprovalStatus != "" && s.ModelApprovalStatus != in.ModelApprovalStatus {
			continue
		}
		out = append(out, s)
	}
	switch in.SortBy {
	case "", smtypes.ModelPackageSortByCreationTime:
		sort.SliceStable(out, func(i, j int) bool { return out[i].CreationTime.Before(*out[j].CreationTime) })
	default:
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "unsupported SortBy"}
	}
	if in.SortOrder == smtypes.SortOrderDescending {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil {
			return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "invalid NextToken"}
		}
		start = n
	}
	limit := 10
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	res := &sagemaker.ListModelPackagesOutput{}
	if start < len(out) {
		end := min(len(out), start+limit)
		res.ModelPackageSummaryList = out[start:end]
		if end < len(out) {
			res.NextToken = aws.String(strconv.Itoa(end))
		}
	}
	return res, nil
}

// DescribeModelPackageGroup answers a group that is not there with
// ValidationException, as SageMaker does.
func (f *sageMakerFake) DescribeModelPackageGroup(_ context.Context, in *sagemaker.DescribeModelPackageGroupInput, _ ...func(*sagemaker.Options)) (*sagemaker.DescribeModelPackageGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "DescribeModelPackageGroup")
	name := groupName(aws.ToString(in.ModelPackageGroupName))
	if _, ok := f.groups[name]; !ok {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "ModelPackageGroup arn:aws:sagemaker:us-east-1:123456789012:model-package-group/" + name + " does not exist."}
	}
	return &sagemaker.DescribeModelPackageGroupOutput{ModelPackageGroupName: aws.String(name), ModelPackageGroupStatus: smtypes.ModelPackageGroupStatusCompleted}, nil
}

// ---- SNS ----

type snsFake struct {
	mu        sync.Mutex
	topics    map[string]bool
	denied    bool // the caller may not publish: AuthorizationError
	published []sns.PublishInput
	// dedup holds the FIFO deduplication ids seen (a repeat within SNS's
	// window is accepted but not delivered).
	dedup     map[string]bool
	delivered int
}

func newSNSFake(topics ...string) *snsFake {
	f := &snsFake{topics: map[string]bool{}, dedup: map[string]bool{}}
	for _, t := range topics {
		f.topics[t] = true
	}
	return f
}

var snsSubjectRe = regexp.MustCompile(`^[\x21-\x7e][\x20-\x7e]{0,98}$`)

func (f *snsFake) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := aws.ToString(in.TopicArn)
	switch {
	case f.denied:
		return nil, &snstypes.AuthorizationErrorException{Message: aws.String("User: arn:aws:sts::123456789012:assumed-role/ci/gha is not authorized to perform: SNS:Publish on resource: " + arn)}
	case !f.topics[arn]:
		return nil, &snstypes.NotFoundException{Message: aws.String("Topic does not exist")}
	case aws.ToString(in.Message) == "":
		return nil, &snstypes.InvalidParameterException{Message: aws.String("Invalid parameter: Empty message")}
	case in.Subject != nil && !snsSubjectRe.MatchString(*in.Subject):
		return nil, &snstypes.InvalidParameterException{Message: aws.String("Invalid parameter: Subject")}
	case strings.HasSuffix(arn, ".fifo") && in.MessageGroupId == nil:
		return nil, &snstypes.InvalidParameterException{Message: aws.String("Invalid parameter: The MessageGroupId parameter is required for FIFO topics")}
	case !strings.HasSuffix(arn, ".fifo") && in.MessageGroupId != nil:
		return nil, &snstypes.InvalidParameterException{Message: aws.String("Invalid parameter: The request includes MessageGroupId parameter that is not valid for this topic type")}
	}
	f.published = append(f.published, *in)
	if id := aws.ToString(in.MessageDeduplicationId); id == "" || !f.dedup[id] {
		f.delivered++
		f.dedup[id] = id != ""
	}
	return &sns.PublishOutput{MessageId: aws.String(fmt.Sprintf("msg-%d", len(f.published)))}, nil
}

func (f *snsFake) Published() []sns.PublishInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sns.PublishInput(nil), f.published...)
}

func (f *snsFake) set(fn func(*snsFake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// ---- SES ----

type sesFake struct {
	mu       sync.Mutex
	verified map[string]bool // identities: addresses and domains
	sandbox  bool            // recipients must be verified too
	sent     []sesv2.SendEmailInput
}

func newSESFake(identities ...string) *sesFake {
	f := &sesFake{verified: map[string]bool{}}
	for _, id := range identities {
		f.verified[strings.ToLower(id)] = true
	}
	return f
}

func (f *sesFake) isVerified(addr string) bool {
	addr = strings.ToLower(addr)
	if i := strings.LastIndex(addr, "<"); i >= 0 {
		addr = strings.TrimSuffix(addr[i+1:], ">")
	}
	_, domain, _ := strings.Cut(addr, "@")
	return f.verified[addr] || f.verified[domain]
}

func (f *sesFake) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := aws.ToString(in.FromEmailAddress)
	if in.Destination == nil || len(in.Destination.ToAddresses) == 0 {
		return nil, &sestypes.BadRequestException{Message: aws.String("Missing required field Destination")}
	}
	if in.Content == nil || in.Content.Simple == nil || in.Content.Simple.Subject == nil || aws.ToString(in.Content.Simple.Subject.Data) == "" {
		return nil, &sestypes.BadRequestException{Message: aws.String("Missing required field Subject")}
	}
	if !f.isVerified(from) {
		return nil, &sestypes.MessageRejected{Message: aws.String("Email address is not verified. The following identities failed the check in region US-EAST-1: " + from)}
	}
	if f.sandbox {
		for _, to := range in.Destination.ToAddresses {
			if !f.isVerified(to) {
				return nil, &sestypes.MessageRejected{Message: aws.String("Email address is not verified. The following identities failed the check in region US-EAST-1: " + to)}
			}
		}
	}
	f.sent = append(f.sent, *in)
	return &sesv2.SendEmailOutput{MessageId: aws.String(fmt.Sprintf("ses-%d", len(f.sent)))}, nil
}

func (f *sesFake) Sent() []sesv2.SendEmailInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sesv2.SendEmailInput(nil), f.sent...)
}
