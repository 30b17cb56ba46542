// Package kube is the Kubernetes code eks-rollout and health-rollback
// share: a client from a kubeconfig or natively from EKS (DescribeCluster
// and a presigned STS token, refreshed before it runs out), waiting for a
// rollout with kubectl's own status viewers over a watch, saying why a
// rollout failed (the pods that are not ready and their reasons), undoing
// a rollout with kubectl's rollbacker, applying manifests with server-side
// apply, and the record of a workload's previous state that eks-rollout
// writes and health-rollback reads.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mlship/mlship/internal/exitcode"
	mwait "github.com/mlship/mlship/internal/wait"
)

// Client is a connection to one cluster.
type Client struct {
	Kube kubernetes.Interface
	// Dynamic and Mapper apply manifests of any kind; nil when only
	// workloads are read and changed.
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// Namespace is the namespace to work in when none is given: the
	// kubeconfig context's, else "default".
	Namespace string
	// Server names the cluster in messages (the API server's URL, or the
	// EKS cluster).
	Server string
	// Backoff spaces the retries of a call that failed in a way that may
	// pass (connection refused, timeouts, 429, 5xx).
	Backoff wait.Backoff
	// Now is the clock for durations in messages (nil: time.Now).
	Now func() time.Time
}

// DefaultBackoff tries a call 6 times over about 15 s.
var DefaultBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 6, Cap: 8 * time.Second}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// requestTimeout bounds one API call that is not a watch.
const requestTimeout = 30 * time.Second

// retry runs fn until it succeeds, fails in a way that will not pass, or
// the backoff's steps are used up; it returns fn's last error.
func (c *Client) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	b := c.Backoff
	if b.Steps == 0 {
		b = DefaultBackoff
	}
	var last error
	for {
		callCtx, cancel := context.WithTimeout(ctx, requestTimeout)
		last = fn(callCtx)
		cancel()
		if last == nil || !Transient(last) || ctx.Err() != nil {
			return last
		}
		if b.Steps <= 1 {
			return last
		}
		if mwait.Sleep(ctx, b.Step()) != nil {
			return last
		}
	}
}

// Retry runs fn as every call here is run: again, with backoff, while it
// fails in a way that may pass (see Transient); each try gets a deadline of
// its own.
func (c *Client) Retry(ctx context.Context, fn func(ctx context.Context) error) error {
	return c.retry(ctx, fn)
}

// get is retry for a call that returns a value.
func get[T any](ctx context.Context, c *Client, fn func(ctx context.Context) (T, error)) (T, error) {
	var out T
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = fn(ctx)
		return err
	})
	return out, err
}

// Transient reports whether err may pass when the call is tried again: the
// API server could not be reached or was busy, or the call timed out.
func Transient(err error) bool {
	switch {
	case err == nil:
		return false
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// APIError gives err from a call about what (e.g. "reading deployment/web")
// its exit code: bad input when the API server rejected what was asked
// (invalid, bad request), could not finish otherwise (unreachable,
// refused credentials, forbidden, conflicts that did not resolve).
func APIError(what string, err error) error {
	if err == nil {
		return nil
	}
	var coded *exitcode.Error
	if errors.As(err, &coded) {
		return err
	}
	msg := err.Error()
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return exitcode.BadInputf("%s: the API server rejected it: %s", what, msg)
	case apierrors.IsUnauthorized(err):
		return exitcode.Incompletef("%s: the API server did not accept the credentials (%s)", what, msg)
	case apierrors.IsForbidden(err):
		return exitcode.Incompletef("%s: forbidden (the identity lacks an RBAC permission): %s", what, msg)
	}
	return exitcode.Incompletef("%s: %w", what, err)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// oneLine flattens text from the cluster (condition and status messages)
// for a one-line report.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
