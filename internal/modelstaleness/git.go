package modelstaleness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

// The empty tree of each object format: comparing a commit with it lists
// every file the commit holds.
var emptyTree = map[string]string{
	"sha1":   "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
	"sha256": "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}

// gitRepo runs the git binary in a checkout.
type gitRepo struct {
	bin string
	dir string
}

// The options every git call gets: no signatures to verify, no rename
// following from the user's config, no optional index writes, no prompts.
var gitConfig = []string{"-c", "log.showSignature=false", "-c", "log.follow=false", "-c", "log.mailmap=true"}

func (g *gitRepo) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, g.bin, append(append([]string{"-C", g.dir}, gitConfig...), args...)...)
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "GIT_TERMINAL_PROMPT=0")
	return cmd
}

// run runs git and returns its standard output and the first line of its
// standard error.
func (g *gitRepo) run(ctx context.Context, args ...string) ([]byte, string, error) {
	var out, errb bytes.Buffer
	cmd := g.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &limitedBuffer{buf: &errb, max: 4096}
	err := cmd.Run()
	line, _, _ := strings.Cut(strings.TrimSpace(errb.String()), "\n")
	return out.Bytes(), line, err
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// pathspecs are git pathspecs for the paths: globs with ** (":(glob)"),
// everything else literally.
func pathspecs(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if strings.ContainsAny(p, "*?[") {
			out = append(out, ":(glob)"+p)
		} else {
			out = append(out, ":(literal)"+p)
		}
	}
	return out
}

func quoteAll(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = fmt.Sprintf("%q", p)
	}
	return strings.Join(q, ", ")
}

// opt names an option of the model in a message: the flag on the command
// line, the key in the config file.
func (m *Model) opt(name string) string {
	if m.where == "" {
		return "--" + name
	}
	return name
}

// gitLastChange finds the newest commit of the checkout's history that
// touches any of the model's paths and passes the ignore filters, with
// `git log`, reading only as far as the first commit that is not ignored.
func gitLastChange(ctx context.Context, bin string, m *Model) (*change, error) {
	if bin == "" {
		bin = "git"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, exitcode.BadInputf("--source git needs the git binary, and %s is not there: install git, or use --source github", bin)
	}
	g := &gitRepo{bin: path, dir: m.Spec.Directory}
	ref := cmpOr(m.Spec.Ref, "HEAD")
	specs := pathspecs(m.paths)

	// git log starts at once, beside the checks of the checkout; its answer
	// is used only when they pass. When the answer is the newest commit, the
	// checks would otherwise take as long as the answer.
	type logResult struct {
		found   *change
		ignored int
		err     error
	}
	logCtx, cancelLog := context.WithCancel(ctx)
	defer cancelLog()
	logDone := make(chan logResult, 1)
	go func() {
		found, ignored, err := g.newest(logCtx, m, ref, specs, len(m.Spec.IgnoreAuthors) > 0 || len(m.ignoreMessages) > 0)
		logDone <- logResult{found, ignored, err}
	}()
	fail := func(err error) (*change, error) {
		cancelLog()
		<-logDone
		return nil, err
	}

	// One literal path: rev-parse also tells whether it is there at the
	// ref (REF:path resolves), which saves a git process.
	args := []string{"rev-parse", "--is-shallow-repository", "--show-object-format", "--revs-only", "--end-of-options", ref + "^{commit}"}
	onePath := len(m.paths) == 1 && !strings.ContainsAny(m.paths[0], "*?[")
	if onePath {
		args = append(args, ref+":./"+m.paths[0])
	}
	out, stderr, err := g.run(ctx, args...)
	lines := strings.Fields(string(out))
	switch {
	case ctx.Err() != nil:
		return fail(exitcode.Incompletef("reading the git history: %v", ctx.Err()))
	case err != nil || len(lines) < 2:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return fail(exitcode.Incompletef("running git: %v", err))
		}
		return fail(exitcode.BadInputf("%s %q: not a git checkout: git: %s", m.opt("directory"), g.dir, stderr))
	case lines[0] == "true":
		return fail(exitcode.BadInputf("%s is a shallow clone, in which every file looks changed at its oldest commit: check out the whole history (actions/checkout with fetch-depth: 0)", g.dir))
	case len(lines) == 2 && m.Spec.Ref == "":
		return fail(exitcode.BadInputf("%s %q: the repository has no commits", m.opt("directory"), g.dir))
	case len(lines) == 2:
		return fail(exitcode.BadInputf("%s %q: no such commit, branch or tag in %s", m.opt("ref"), m.Spec.Ref, g.dir))
	case len(lines) > 4 || len(lines) == 4 && !onePath:
		return fail(exitcode.Incompletef("git rev-parse: unexpected output %q", out))
	}
	format, head := lines[1], lines[2]

	// Whether any file at the ref matches the paths: a last change that
	// deleted them all is still the last change, but the paths probably
	// need updating. Also beside git log.
	deleted := make(chan error, 1)
	tree, known := emptyTree[format]
	go func() {
		switch {
		case onePath && len(lines) == 3:
			deleted <- errDeleted
			return
		case onePath || !known:
			deleted <- nil
			return
		}
		_, stderr, err := g.run(ctx, append([]string{"diff-tree", "--quiet", "-r", tree, head, "--"}, specs...)...)
		var exit *exec.ExitError
		switch {
		case err == nil:
			deleted <- errDeleted
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			deleted <- nil
		default:
			deleted <- gitErr(ctx, "git diff-tree", stderr, err)
		}
	}()

	lr := <-logDone
	delErr := <-deleted
	found, ignored := lr.found, lr.ignored
	switch {
	case lr.err != nil:
		return nil, lr.err
	case found == nil && ignored == 0:
		return nil, exitcode.BadInputf("%s %s: no commit in the history of %s touches it", m.opt("path"), quoteAll(m.paths), ref)
	case found == nil:
		return nil, exitcode.BadInputf("every commit that touches %s %s (%d) is ignored by %s/%s", m.opt("path"), quoteAll(m.paths), ignored, m.opt("ignore-author"), m.opt("ignore-message"))
	case delErr == errDeleted:
		found.warnings = append(found.warnings, fmt.Sprintf("no file at %s matches %s %s: commit %s deleted it", ref, m.opt("path"), quoteAll(m.paths), short(found.commit)))
	case delErr != nil:
		return nil, delErr
	}
	if ignored > 0 {
		found.warnings = append(found.warnings, fmt.Sprintf("skipped %d newer commit(s) by ignored authors or messages", ignored))
	}

	// With several paths, each must be in the history: a misspelt one
	// would otherwise go unnoticed beside the others.
	if len(m.paths) > 1 {
		for i, spec := range specs {
			out, stderr, err := g.run(ctx, "log", "-1", "--format=%H", head, "--", spec)
			if err != nil {
				return nil, gitErr(ctx, "git log", stderr, err)
			}
			if len(bytes.TrimSpace(out)) == 0 {
				return nil, exitcode.BadInputf("%s %q: no commit in the history of %s touches it", m.opt("path"), m.paths[i], ref)
			}
		}
	}
	return found, nil
}

var errDeleted = errors.New("deleted")

func gitErr(ctx context.Context, what, stderr string, err error) error {
	if ctx.Err() != nil {
		return exitcode.Incompletef("%s: %v", what, ctx.Err())
	}
	if stderr != "" {
		return exitcode.Incompletef("%s: %s", what, stderr)
	}
	return exitcode.Incompletef("%s: %v", what, err)
}

// gitFields is how many NUL-separated fields a commit has in logFormat.
const gitFields = 5

// logFormat prints a commit as NUL-separated fields; the message comes last
// (it cannot hold a NUL), and -z ends each commit with one more NUL.
const logFormat = "--format=%H%x00%cI%x00%aN%x00%aE%x00%B"

// newest streams `git log` from head (a ref), newest first, and returns the first
// commit that is not ignored and how many were ignored before it. Without
// filters git is asked for one commit only.
func (g *gitRepo) newest(ctx context.Context, m *Model, head string, specs []string, filtered bool) (*change, int, error) {
	args := []string{"log", "-z", logFormat}
	if !filtered {
		args = append(args, "-1")
	}
	args = append(append(args, "--end-of-options", head, "--"), specs...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := g.command(ctx, args...)
	var errb bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &errb, max: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, exitcode.Incompletef("running git log: %v", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, exitcode.Incompletef("running git log: %v", err)
	}

	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sc.Split(splitNUL)
	var found *change
	ignored := 0
	fields := make([]string, 0, gitFields)
	for found == nil && sc.Scan() {
		fields = append(fields, sc.Text())
		if len(fields) < gitFields {
			continue
		}
		c, err := parseCommit(fields)
		fields = fields[:0]
		if err != nil {
			cancel()
			_ = cmd.Wait()
			return nil, 0, exitcode.Incompletef("reading git log: %v", err)
		}
		if m.ignored(c.author, c.email, "", c.message) {
			ignored++
			continue
		}
		found = c.change()
	}
	scanErr := sc.Err()
	if found != nil {
		// Stop git: nothing older is needed.
		cancel()
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		return found, ignored, nil
	}
	waitErr := cmd.Wait()
	line, _, _ := strings.Cut(strings.TrimSpace(errb.String()), "\n")
	switch {
	case waitErr != nil:
		return nil, 0, gitErr(ctx, "git log", line, waitErr)
	case scanErr != nil:
		return nil, 0, exitcode.Incompletef("reading git log: %v", scanErr)
	case len(fields) != 0:
		return nil, 0, exitcode.Incompletef("reading git log: a commit cut short")
	}
	return nil, ignored, nil
}

func splitNUL(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

type gitCommit struct {
	sha, author, email, message string
	at                          time.Time
}

func parseCommit(f []string) (*gitCommit, error) {
	sha := strings.TrimLeft(f[0], "\n")
	at, err := time.Parse(time.RFC3339, f[1])
	if err != nil {
		return nil, fmt.Errorf("commit %s: date %q: %v", sha, f[1], err)
	}
	return &gitCommit{sha: sha, at: at, author: f[2], email: f[3], message: f[4]}, nil
}

func (c *gitCommit) change() *change {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.message), "\n")
	return &change{at: c.at, commit: c.sha, author: c.author, subject: subject}
}

// ignored reports whether a commit is ignored: its author's name, email
// or login matches an --ignore-author pattern, or its message matches an
// --ignore-message expression.
func (m *Model) ignored(name, email, login, message string) bool {
	for _, p := range m.Spec.IgnoreAuthors {
		for _, s := range []string{name, email, login} {
			if s != "" && globMatch(p, s) {
				return true
			}
		}
	}
	for _, re := range m.ignoreMessages {
		if re.MatchString(message) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, ignoring case; "*" in pattern
// matches any run of characters, everything else only itself (so
// "dependabot[bot]" is a name, not a character class).
func globMatch(pattern, s string) bool {
	pattern, s = strings.ToLower(strings.TrimSpace(pattern)), strings.ToLower(s)
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}
