package alarms

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/awsrpc"
)

// service is CloudWatch in AWS JSON 1.0, which both AWS and emulators
// such as moto serve (the SDK's client speaks Smithy RPC v2 CBOR to AWS,
// which moto does not; internal/cloudwatchclient tells why). A client of
// internal/awsrpc rather than the SDK's cloudwatch package, whose package
// initialisation (0.4 MB of tables of every CloudWatch shape) every run of
// lambda-deploy and health-rollback would pay at start-up for a call most
// runs never make.
var service = awsrpc.Service{
	ID:              "CloudWatch",
	EndpointPrefix:  "monitoring",
	SigningName:     "monitoring",
	Target:          "GraniteServiceVersion20100801",
	JSONVersion:     "1.0",
	QueryCompatible: true,
	// A page is at most 100 alarms of a few KB each.
	MaxResponse: 16 << 20,
}

// Alarm states.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Alarm types DescribeAlarms takes.
const (
	TypeMetric    = "MetricAlarm"
	TypeComposite = "CompositeAlarm"
)

// DescribeAlarmsInput is DescribeAlarms' request, the members the watch
// uses and StateValue and MaxRecords, as CloudWatch names them.
type DescribeAlarmsInput struct {
	AlarmNames []string `json:",omitempty"`
	AlarmTypes []string `json:",omitempty"`
	StateValue string   `json:",omitempty"`
	MaxRecords int32    `json:",omitempty"`
	NextToken  string   `json:",omitempty"`
}

// DescribeAlarmsOutput is a page of DescribeAlarms' answer.
type DescribeAlarmsOutput struct {
	MetricAlarms    []Alarm
	CompositeAlarms []Alarm
	NextToken       string
}

// Alarm is an alarm as DescribeAlarms describes it (the members read here).
type Alarm struct {
	AlarmName   string
	AlarmArn    string
	StateValue  string
	StateReason string
	// StateUpdatedTimestamp is in seconds since the epoch, as AWS JSON
	// carries timestamps.
	StateUpdatedTimestamp float64
}

// Client is CloudWatch's DescribeAlarms.
type Client struct{ c *awsrpc.Client }

// NewClient returns the CloudWatch client for cfg (loaded by awsconfig)
// of tool. Its endpoint is decided as the SDK's CloudWatch client decides
// it (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_CLOUDWATCH, the shared config,
// FIPS and dual-stack).
func NewClient(ctx context.Context, cfg aws.Config, tool string) (*Client, error) {
	c, err := awsrpc.New(ctx, cfg, service, tool)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// DescribeAlarms reads one page of alarms.
func (c *Client) DescribeAlarms(ctx context.Context, in *DescribeAlarmsInput) (*DescribeAlarmsOutput, error) {
	out := &DescribeAlarmsOutput{}
	if err := c.c.Call(ctx, "DescribeAlarms", in, out); err != nil {
		return nil, err
	}
	return out, nil
}
