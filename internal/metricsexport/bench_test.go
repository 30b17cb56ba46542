package metricsexport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/action/actiontest"
)

// metricsFile is n metrics in format, nested two levels for JSON and YAML.
func metricsFile(format string, n int) []byte {
	var b strings.Builder
	switch format {
	case FormatEnv:
		for i := range n {
			fmt.Fprintf(&b, "METRIC_%05d=0.%d\n", i, 1000+i)
		}
	case FormatJSON:
		b.WriteString("{\n")
		for g := 0; g < n/100; g++ {
			if g > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, "  \"group_%03d\": {", g)
			for i := range 100 {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "\"metric_%02d\": 0.%d", i, 1000+g*100+i)
			}
			b.WriteString("}")
		}
		b.WriteString("\n}\n")
	case FormatYAML:
		for g := 0; g < n/100; g++ {
			fmt.Fprintf(&b, "group_%03d:\n", g)
			for i := range 100 {
				fmt.Fprintf(&b, "  metric_%02d: 0.%d\n", i, 1000+g*100+i)
			}
		}
	}
	return []byte(b.String())
}

// BenchmarkParse10k reads 10,000 metrics and makes their outputs and JSON:
// all a run does with them before any request.
func BenchmarkParse10k(b *testing.B) {
	for _, format := range []string{FormatEnv, FormatJSON, FormatYAML} {
		data := metricsFile(format, 10_000)
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				ms, err := Parse("metrics."+format, data, format)
				if err != nil {
					b.Fatal(err)
				}
				if len(ms) != 10_000 {
					b.Fatalf("%d metrics", len(ms))
				}
				if err := checkNames(ms); err != nil {
					b.Fatal(err)
				}
				_ = metricsJSON(ms, false)
			}
		})
	}
}

func TestBenchmarkFixtures(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatEnv, FormatJSON, FormatYAML} {
		ms, err := Parse("m", metricsFile(format, 1000), format)
		if err != nil || len(ms) != 1000 {
			t.Errorf("%s: %d metrics, %v", format, len(ms), err)
		}
	}
}

// BenchmarkUpload uploads 16 report files of 256 KiB to gofakes3 in-process,
// UploadConcurrency at a time.
func BenchmarkUpload(b *testing.B) {
	srv := newS3Server(b, false, "reports")
	dir := b.TempDir()
	files := map[string]string{}
	for i := range 16 {
		files[fmt.Sprintf("report-%02d.html", i)] = strings.Repeat(fmt.Sprintf("<p>%d</p>", i), 256<<10/8)
	}
	writeFiles(b, dir, files)
	plan, err := planUploads([]string{filepath.Join(dir, "*.html")}, "bench/")
	if err != nil {
		b.Fatal(err)
	}
	deps := srv.deps()
	b.SetBytes(16 * 256 << 10)
	round := 0
	for b.Loop() {
		// A new content hash each round so that nothing is skipped.
		round++
		for i := range plan {
			plan[i].sha = fmt.Sprintf("%d-%d", round, i)
		}
		if _, err := uploadAll(context.Background(), deps.S3, deps.Presigner, "reports", plan, 0, nopLogger{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWorkflowStep100k runs the tool as a workflow step on 100,000
// metrics and reports what it writes for the runner: the outputs stay
// within GitHub's 1 MB per job, the summary within its 1 MiB per step.
func BenchmarkWorkflowStep100k(b *testing.B) {
	dir := b.TempDir()
	file := filepath.Join(dir, "metrics.env")
	if err := os.WriteFile(file, metricsFile(FormatEnv, 100_000), 0o644); err != nil {
		b.Fatal(err)
	}
	var outBytes, summaryBytes int64
	for b.Loop() {
		w := actiontest.NewStep(b, map[string]string{"file": file})
		if code := w.Run(Command()); code != 0 {
			b.Fatalf("exit %d: %s", code, &w.Stdout)
		}
		out, _ := os.Stat(w.OutputFile)
		sum, _ := os.Stat(w.Summary)
		outBytes, summaryBytes = out.Size(), sum.Size()
	}
	if outBytes > action.OutputBudget || summaryBytes > action.SummaryBudget {
		b.Errorf("wrote %d bytes of outputs and %d of summary", outBytes, summaryBytes)
	}
	b.ReportMetric(float64(outBytes), "output-bytes")
	b.ReportMetric(float64(summaryBytes), "summary-bytes")
}
