package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// modelFile is the model's file in the checkout, whose history says how old
// the model is.
const modelFile = "testdata/demo/image/var/task/model.json"

// ---- 7b. the weekly staleness check ----

func (d *demo) staleness(ctx context.Context) error {
	s := d.begin("7b", "The weekly check: has the model changed in the last 7 days? (model-staleness, git history)")
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("step 7b: model-staleness reads the git history with the git binary, which is not on PATH")
	}
	dir, path := d.opt.repo, modelFile
	shallow, err := exec.Command("git", "-C", dir, "rev-parse", "--is-shallow-repository").Output()
	switch {
	case err != nil:
		d.printf("  %s is not a git checkout, so the demo makes a small repository to read\n", dir)
	case strings.TrimSpace(string(shallow)) == "true":
		d.printf("  the checkout is shallow (model-staleness refuses it: every file would look changed at its\n")
		d.printf("  one commit), so the demo makes a small repository to read; `git fetch --unshallow` reads this one\n")
	}
	if err != nil || strings.TrimSpace(string(shallow)) == "true" {
		if dir, err = d.history(ctx); err != nil {
			return fmt.Errorf("step 7b: making a repository: %w", err)
		}
		path = "model.json"
	} else {
		d.printf("  reading this checkout's history of %s\n", path)
	}
	res, err := d.tool(ctx, s, 0, "model-staleness",
		kv{"model", function},
		kv{"directory", dir},
		kv{"path", path},
		kv{"warn-after", "7d"},
		kv{"error-after", "30d"},
	)
	if err != nil {
		return err
	}
	o := res.Outputs
	commit := o["commit"]
	if len(commit) > 12 {
		commit = commit[:12]
	}
	s.did("%s: last changed %s (%s ago, commit %s): %s, stale %s", path, o["last-updated"], o["age-human"], commit, o["state"], o["stale"])
	return nil
}

// history makes a repository in which the model was last changed 40 days
// ago and something else 2 days ago.
func (d *demo) history(ctx context.Context) (string, error) {
	dir := d.path("history")
	model, err := os.ReadFile(d.fixture("image", "var", "task", "model.json"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	git := func(when time.Time, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		date := when.Format(time.RFC3339)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Model Team", "GIT_AUTHOR_EMAIL=models@example.com",
			"GIT_COMMITTER_NAME=Model Team", "GIT_COMMITTER_EMAIL=models@example.com",
			"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	steps := []struct {
		when  time.Time
		file  string
		body  []byte
		title string
	}{
		{now.AddDate(0, 0, -40), "model.json", model, "model 2026.03.2: retrained on the February data"},
		{now.AddDate(0, 0, -2), "README.md", []byte("# credit-approval\n"), "README"},
	}
	if err := git(now, "init", "-q", "-b", "main"); err != nil {
		return "", err
	}
	for _, st := range steps {
		if err := os.WriteFile(filepath.Join(dir, st.file), st.body, 0o644); err != nil {
			return "", err
		}
		if err := git(st.when, "add", st.file); err != nil {
			return "", err
		}
		if err := git(st.when, "commit", "-q", "-m", st.title); err != nil {
			return "", err
		}
	}
	return dir, nil
}
