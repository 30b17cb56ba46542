package modelstaleness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

const nb = "notebooks/credit_card_approval.ipynb"

// TestGitNewestCommit: the newest commit touching the path decides, not
// newer commits elsewhere; its committer date is the one taken.
func TestGitNewestCommit(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(40), "", "first notebook", map[string]string{nb: "v1", "README.md": "x"})
	want := r.commit(daysAgo(20), "Jane <jane@example.com>", "Retrain on March data\n\nlonger text", map[string]string{nb: "v2"})
	r.commit(daysAgo(2), "", "docs", map[string]string{"README.md": "y"})

	for _, tc := range []struct {
		warn, err, state string
	}{
		{"7d", "14d", StateError},
		{"7d", "30d", StateWarn},
		{"3w", "", StateFresh},
		{"", "2w", StateError},
	} {
		spec := gitSpec(r.dir, nb)
		spec.WarnAfter, spec.ErrorAfter = tc.warn, tc.err
		m := mustRun(t, spec, Deps{})
		if m.State != tc.state || m.Stale != (tc.state != StateFresh) {
			t.Errorf("warn %s error %s: state %s stale %t, want %s", tc.warn, tc.err, m.State, m.Stale, tc.state)
		}
		if m.Commit != want || m.Author != "Jane" || m.Subject != "Retrain on March data" {
			t.Errorf("commit %s by %q: %q, want %s by Jane", m.Commit, m.Author, m.Subject, want)
		}
		if m.LastUpdated != daysAgo(20).Format(time.RFC3339) || *m.AgeSeconds != 20*24*3600 || m.AgeHuman != "20d" {
			t.Errorf("last updated %s, age %d (%s)", m.LastUpdated, *m.AgeSeconds, m.AgeHuman)
		}
	}
}

// TestGitCommitterDate: a rebased commit keeps its old author date; the
// committer date (when it landed) is the model's.
func TestGitCommitterDate(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(30), "", "a", map[string]string{nb: "v1"})
	r.commit(daysAgo(3), "", "b", map[string]string{nb: "v2"})
	r.gitAt(daysAgo(1), "", "commit", "-q", "--amend", "--no-edit", "--date", daysAgo(25).Format(time.RFC3339))
	m := mustRun(t, gitSpec(r.dir, nb), Deps{})
	if m.LastUpdated != daysAgo(1).Format(time.RFC3339) || m.State != StateFresh {
		t.Errorf("last updated %s (%s), want the committer date %s", m.LastUpdated, m.State, daysAgo(1).Format(time.RFC3339))
	}
}

// TestGitGlobsAndPaths: globs with ** match in subfolders, several paths
// take the newest, a folder covers its files, and every path must exist.
func TestGitGlobsAndPaths(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(50), "", "init", map[string]string{nb: "v1", "models/a/b/model.pkl": "1", "models/top.txt": "t", "src/app.py": "p"})
	pkl := r.commit(daysAgo(9), "", "new weights", map[string]string{"models/a/b/model.pkl": "2"})
	r.commit(daysAgo(4), "", "text", map[string]string{"models/top.txt": "u"})
	app := r.commit(daysAgo(1), "", "app", map[string]string{"src/app.py": "q"})

	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"models/**/*.pkl"}, pkl},
		{[]string{"./models/**/*.pkl", nb}, pkl},
		{[]string{nb, "src"}, app},
		{[]string{"src/"}, app},
	} {
		m := mustRun(t, gitSpec(r.dir, tc.paths...), Deps{})
		if m.Commit != tc.want {
			t.Errorf("%v: commit %s, want %s", tc.paths, m.Commit, tc.want)
		}
	}

	// Paths are relative to the directory, which may be inside the
	// repository.
	for _, p := range []string{"a/b/model.pkl", "a", "**/*.pkl"} {
		if m := mustRun(t, gitSpec(filepath.Join(r.dir, "models"), p), Deps{}); m.Commit != pkl || len(m.Warnings) != 0 {
			t.Errorf("in models/, %s: commit %s, warnings %q", p, m.Commit, m.Warnings)
		}
	}

	_, err := runSpec(t, gitSpec(r.dir, "models/**/*.pkl", "notebooks/typo.ipynb"), Deps{})
	wantCode(t, err, exitcode.BadInput, `--path "notebooks/typo.ipynb": no commit in the history of HEAD touches it`)
	_, err = runSpec(t, gitSpec(r.dir, "never/*.onnx"), Deps{})
	wantCode(t, err, exitcode.BadInput, `--path "never/*.onnx": no commit`)
}

// TestGitIgnoredCommits: bot authors (by name, email or a * pattern, with
// [bot] taken literally) and chore messages do not make a model fresh.
func TestGitIgnoredCommits(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	human := r.commit(daysAgo(12), "Jane <jane@example.com>", "Retrain", map[string]string{nb: "v1"})
	r.commit(daysAgo(5), "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>", "Bump nbformat", map[string]string{nb: "v2"})
	r.commit(daysAgo(3), "Formatter <fmt@example.com>", "chore: format notebooks", map[string]string{nb: "v3"})
	lookalike := r.commit(daysAgo(2), "dependabotb <b@example.com>", "tweak", map[string]string{"other": "x"})
	_ = lookalike

	for _, tc := range []struct {
		authors, messages []string
		want              string
		skipped           string
	}{
		{[]string{"dependabot[bot]"}, []string{"^chore"}, human, "skipped 2 newer commit(s)"},
		{[]string{"*[bot]", "fmt@example.com"}, nil, human, "skipped 2"},
		{[]string{"DEPENDABOT[BOT]"}, []string{`(?i)^CHORE:`}, human, "skipped 2"},
	} {
		spec := gitSpec(r.dir, nb)
		spec.IgnoreAuthors, spec.IgnoreMessages = tc.authors, tc.messages
		log := &logger{}
		m := mustRun(t, spec, Deps{Log: log})
		if m.Commit != tc.want || m.State != StateWarn {
			t.Errorf("%v %v: commit %s (%s), want %s", tc.authors, tc.messages, m.Commit, m.State, tc.want)
		}
		if !strings.Contains(strings.Join(m.Warnings, "\n"), tc.skipped) {
			t.Errorf("warnings %q lack %q", m.Warnings, tc.skipped)
		}
	}

	// dependabot[bot] is a name: "dependabotb" is not it.
	spec := gitSpec(r.dir, nb, "other")
	spec.IgnoreAuthors = []string{"dependabot[bot]"}
	if m := mustRun(t, spec, Deps{}); m.Commit != lookalike {
		t.Errorf("commit %s, want the lookalike's %s", m.Commit, lookalike)
	}

	spec = gitSpec(r.dir, nb)
	spec.IgnoreAuthors = []string{"*"}
	_, err := runSpec(t, spec, Deps{})
	wantCode(t, err, exitcode.BadInput, "every commit that touches --path", "(3) is ignored")
}

// TestGitMergesAndRenames: history through merges is what `git log --
// path` shows (the side branch's commit when the merge took it as is, the
// merge when it changed the file itself); a rename is a change of the new
// path, and a path renamed away says it was deleted.
func TestGitMergesAndRenames(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(60), "", "init", map[string]string{nb: "v1", "model.py": "a"})
	r.git("checkout", "-q", "-b", "retrain")
	side := r.commit(daysAgo(20), "", "retrain on the side branch", map[string]string{nb: "v2"})
	r.git("checkout", "-q", "main")
	r.commit(daysAgo(15), "", "main moves on", map[string]string{"model.py": "b"})
	r.gitAt(daysAgo(2), "", "merge", "-q", "--no-ff", "-m", "merge retrain", "retrain")

	m := mustRun(t, gitSpec(r.dir, nb), Deps{})
	if m.Commit != side || m.LastUpdated != daysAgo(20).Format(time.RFC3339) {
		t.Errorf("through a clean merge: commit %s at %s, want the side commit %s", m.Commit, m.LastUpdated, side)
	}
	if base := r.git("log", "-1", "--format=%H", "--", nb); m.Commit != base {
		t.Errorf("commit %s, git log -1 says %s", m.Commit, base)
	}

	// A merge that resolves a conflict in the notebook changed it itself.
	r.git("checkout", "-q", "-b", "other", side)
	r.commit(daysAgo(10), "", "other side", map[string]string{nb: "v3-other"})
	r.git("checkout", "-q", "main")
	r.commit(daysAgo(9), "", "main side", map[string]string{nb: "v3-main"})
	if err := r.gitErr(daysAgo(1), "merge", "-q", "--no-ff", "-m", "merge other", "other"); err == nil {
		t.Fatal("the merge did not conflict")
	}
	if err := os.WriteFile(filepath.Join(r.dir, nb), []byte("v3-resolved"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.gitAt(daysAgo(1), "", "add", nb)
	r.gitAt(daysAgo(1), "", "commit", "-q", "--no-edit")
	merge := r.git("rev-parse", "HEAD")
	m = mustRun(t, gitSpec(r.dir, nb), Deps{})
	if m.Commit != merge || m.State != StateFresh {
		t.Errorf("through a conflict-resolving merge: commit %s (%s), want the merge %s", m.Commit, m.State, merge)
	}

	// Renames.
	r.git("mv", nb, "notebooks/credit.ipynb")
	rename := r.commit(daysAgo(0.5), "", "rename the notebook", nil)
	if m := mustRun(t, gitSpec(r.dir, "notebooks/credit.ipynb"), Deps{}); m.Commit != rename || len(m.Warnings) != 0 {
		t.Errorf("new name: commit %s warnings %q, want the rename %s", m.Commit, m.Warnings, rename)
	}
	log := &logger{}
	m = mustRun(t, gitSpec(r.dir, nb), Deps{Log: log})
	if m.Commit != rename || !strings.Contains(strings.Join(m.Warnings, " "), "no file at HEAD matches --path \""+nb+"\": commit "+short(rename)+" deleted it") {
		t.Errorf("old name: commit %s warnings %q", m.Commit, m.Warnings)
	}
	if !strings.Contains(log.warnings(), "deleted it") {
		t.Errorf("the warning is not logged: %q", log.warnings())
	}
}

// TestGitShallowClone: a clone with --depth 1 is refused with one line
// that says what to do; its checkout date is never reported.
func TestGitShallowClone(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(30), "", "notebook", map[string]string{nb: "v1"})
	r.commit(daysAgo(1), "", "readme", map[string]string{"README.md": "x"})
	clone := filepath.Join(t.TempDir(), "clone")
	r.git("clone", "-q", "--depth", "1", "file://"+r.dir, clone)
	if got := (&testRepo{t: t, dir: clone}).git("rev-parse", "--is-shallow-repository"); got != "true" {
		t.Fatalf("the clone is not shallow: %s", got)
	}
	res, err := runSpec(t, gitSpec(clone, nb), Deps{})
	wantCode(t, err, exitcode.BadInput, "shallow clone", "fetch-depth: 0")
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("more than one line: %q", err)
	}
	if res.Models[0].LastUpdated != "" || res.LastUpdated != "" || res.State != StateUnknown || !res.Stale {
		t.Errorf("a shallow clone's date was reported: %+v", res.Models[0])
	}

	// The full clone answers.
	full := filepath.Join(t.TempDir(), "full")
	r.git("clone", "-q", "file://"+r.dir, full)
	if m := mustRun(t, gitSpec(full, nb), Deps{}); m.LastUpdated != daysAgo(30).Format(time.RFC3339) {
		t.Errorf("full clone: %s", m.LastUpdated)
	}
}

// TestGitBadSetup: no git binary, no checkout, an empty repository, a ref
// that is not there: one line each, exit 2.
func TestGitBadSetup(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	_, err := runSpec(t, gitSpec(r.dir, nb), Deps{})
	wantCode(t, err, exitcode.BadInput, "has no commits")

	r.commit(daysAgo(30), "", "notebook", map[string]string{nb: "v1"})
	_, err = runSpec(t, gitSpec(r.dir, nb), Deps{Git: filepath.Join(t.TempDir(), "git")})
	wantCode(t, err, exitcode.BadInput, "--source git needs the git binary", "--source github")

	_, err = runSpec(t, gitSpec(t.TempDir(), nb), Deps{})
	wantCode(t, err, exitcode.BadInput, "not a git checkout")

	spec := gitSpec(r.dir, nb)
	spec.Ref = "release-9"
	_, err = runSpec(t, spec, Deps{})
	wantCode(t, err, exitcode.BadInput, `--ref "release-9": no such commit, branch or tag`)
}

// TestGitRef reads the history of another branch.
func TestGitRef(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	first := r.commit(daysAgo(30), "", "v1", map[string]string{nb: "v1"})
	r.git("branch", "release")
	r.commit(daysAgo(1), "", "v2", map[string]string{nb: "v2"})
	spec := gitSpec(r.dir, nb)
	spec.Ref = "release"
	if m := mustRun(t, spec, Deps{}); m.Commit != first || m.State != StateError || !strings.HasSuffix(m.Target, "@release") {
		t.Errorf("commit %s (%s), target %s, want %s", m.Commit, m.State, m.Target, first)
	}
}

// TestGitFutureCommit: a commit dated in the future (a wrong clock) is age
// 0, with a warning.
func TestGitFutureCommit(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(now.Add(50*time.Hour), "", "from the future", map[string]string{nb: "v1"})
	m := mustRun(t, gitSpec(r.dir, nb), Deps{})
	if m.State != StateFresh || *m.AgeSeconds != 0 || !strings.Contains(strings.Join(m.Warnings, ""), "2d 2h in the future") {
		t.Errorf("state %s age %d warnings %q", m.State, *m.AgeSeconds, m.Warnings)
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"dependabot[bot]", "dependabot[bot]", true},
		{"dependabot[bot]", "dependabotb", false},
		{"*[bot]", "renovate[bot]", true},
		{"*[bot]", "robot", false},
		{"*@users.noreply.github.com", "1+x@users.noreply.github.com", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"ab*ba", "aba", false},
		{"*", "", true},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %t", tc.pattern, tc.s, got)
		}
	}
}
