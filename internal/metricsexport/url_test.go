package metricsexport

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestObjectURLOnAWS checks the URLs reported for AWS itself (no request is
// sent to make them).
func TestObjectURLOnAWS(t *testing.T) {
	t.Parallel()
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	tests := []struct {
		bucket, key string
		pathStyle   bool
		want        string
	}{
		{"my-reports", "runs/1/model_metrics.html", false, "https://my-reports.s3.eu-west-1.amazonaws.com/runs/1/model_metrics.html"},
		{"my-reports", "runs/1/model_metrics.html", true, "https://s3.eu-west-1.amazonaws.com/my-reports/runs/1/model_metrics.html"},
		{"my-reports", "a b/c+d.html", false, "https://my-reports.s3.eu-west-1.amazonaws.com/a%20b/c%2Bd.html"},
	}
	for _, tt := range tests {
		deps := ClientsFrom(cfg, tt.pathStyle)
		got, err := objectURL(context.Background(), deps.Presigner, tt.bucket, tt.key, 0)
		if err != nil || got != tt.want {
			t.Errorf("objectURL(%s, %s, path-style %v) = %s, %v; want %s", tt.bucket, tt.key, tt.pathStyle, got, err, tt.want)
		}
	}
	deps := ClientsFrom(cfg, false)
	got, err := objectURL(context.Background(), deps.Presigner, "my-reports", "r.html", 7*24*time.Hour)
	if err != nil || !strings.HasPrefix(got, "https://my-reports.s3.eu-west-1.amazonaws.com/r.html?") || !strings.Contains(got, "X-Amz-Expires=604800") {
		t.Errorf("presigned %s, %v", got, err)
	}
}
