//go:build integration

package integration

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/cloudwatchclient"
	"github.com/mlship/mlship/internal/metricsexport"
)

// metrics-export's main path against moto: the report goes to S3 (plain
// and presigned URLs that serve it), the numeric metrics to CloudWatch with
// their dimension and unit, and a second run uploads nothing again.
func TestMetricsExportToS3AndCloudWatch(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	cfg := awsConfig(t)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := unique("mlship-it-reports")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}

	dir := t.TempDir()
	metrics := filepath.Join(dir, "model_metrics.env")
	report := filepath.Join(dir, "model_metrics.html")
	writeFile(t, metrics, "ACCURACY=0.934\nLATENCY_MS=12\nMODEL_NAME=credit\n")
	writeFile(t, report, "<html><body>accuracy 0.934</body></html>\n")
	ns := unique("mlship-it")
	args := []string{
		"--file", metrics, "--upload", report, "--bucket", bucket, "--prefix", "runs/42/", "--s3-path-style",
		"--cloudwatch-namespace", ns, "--dimension", "Model=credit", "--unit", "*_MS=Milliseconds",
	}

	step := actiontest.NewStep(t, nil)
	if code := step.Run(metricsexport.Command(), args...); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &step.Stdout, &step.Stderr)
	}
	outs := step.Outputs(t)
	wantURL := moto.URL + "/" + bucket + "/runs/42/model_metrics.html"
	if outs["report-url"] != wantURL {
		t.Errorf("report-url = %q, want %q", outs["report-url"], wantURL)
	}
	// The plain URL is the object's address; the bucket is private, so it
	// is read here with credentials (the presigned URL is tried below).
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("runs/42/model_metrics.html")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(body) != "<html><body>accuracy 0.934</body></html>\n" {
		t.Errorf("the report in S3 is %q", body)
	}
	if ct := aws.ToString(obj.ContentType); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}

	cw := cloudwatchclient.New(cfg)
	lm, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(ns)})
	if err != nil {
		t.Fatalf("ListMetrics: %v", err)
	}
	var names []string
	for _, m := range lm.Metrics {
		names = append(names, aws.ToString(m.MetricName))
		if len(m.Dimensions) != 1 || aws.ToString(m.Dimensions[0].Name) != "Model" || aws.ToString(m.Dimensions[0].Value) != "credit" {
			t.Errorf("%s has dimensions %+v, want Model=credit", aws.ToString(m.MetricName), m.Dimensions)
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "ACCURACY,LATENCY_MS" {
		t.Errorf("metrics in CloudWatch: %v, want ACCURACY and LATENCY_MS (MODEL_NAME is not a number)", names)
	}
	now := time.Now()
	st, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String(ns), MetricName: aws.String("LATENCY_MS"),
		Dimensions: []cwtypes.Dimension{{Name: aws.String("Model"), Value: aws.String("credit")}},
		StartTime:  aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Hour)), Period: aws.Int32(60),
		Statistics: []cwtypes.Statistic{cwtypes.StatisticMaximum},
	})
	if err != nil {
		t.Fatalf("GetMetricStatistics: %v", err)
	}
	if len(st.Datapoints) != 1 || aws.ToFloat64(st.Datapoints[0].Maximum) != 12 || st.Datapoints[0].Unit != cwtypes.StandardUnitMilliseconds {
		t.Errorf("LATENCY_MS datapoints %+v, want one of 12 Milliseconds", st.Datapoints)
	}

	// The same report again is not uploaded again; a presigned URL serves it.
	again := actiontest.NewStep(t, nil)
	if code := again.Run(metricsexport.Command(), append(args, "--presign", "1h")...); code != 0 {
		t.Fatalf("second run: exit %d\nstdout:\n%s\nstderr:\n%s", code, &again.Stdout, &again.Stderr)
	}
	if log := again.Stdout.String() + again.Stderr.String(); !strings.Contains(log, "is already at s3://"+bucket+"/runs/42/model_metrics.html") {
		t.Errorf("second run did not see the report in S3:\n%s", log)
	}
	presigned := again.Outputs(t)["report-url"]
	u, err := url.Parse(presigned)
	if err != nil || u.Query().Get("X-Amz-Signature") == "" || u.Query().Get("X-Amz-Expires") != "3600" {
		t.Fatalf("presigned report-url %q", presigned)
	}
	if got := fetch(t, presigned); got != "<html><body>accuracy 0.934</body></html>\n" {
		t.Errorf("the report at the presigned URL is %q", got)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fetch(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", u, resp.Status, err)
	}
	return string(b)
}
