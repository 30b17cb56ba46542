package healthrollback

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

// excerptSize is how much of a body a report shows.
const excerptSize = 200

// Measurement is one probe of one URL.
type Measurement struct {
	URL     string    `json:"url"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"` // when the request was made
	OK      bool      `json:"ok"`
	Status  int       `json:"status,omitempty"`
	Latency float64   `json:"latencyMs"`
	// Body is the start of the response, for the report.
	Body string `json:"bodyExcerpt,omitempty"`
	// BodyCut is set when the body was longer than MaxBody and only its
	// start was read and matched.
	BodyCut bool `json:"bodyCut,omitempty"`
	// Problem says what failed: the status, the body, the request.
	Problem string `json:"problem,omitempty"`
}

// prober runs probes as the Config says.
type prober struct {
	client  *http.Client
	timeout time.Duration
	header  http.Header
	status  statusSet
	body    *bodyMatch
	now     func() time.Time
}

// newHTTPClient is a client that follows no redirect (a 301 is what the
// endpoint answered, as curl -f sees it) and opens a new connection for each
// probe, so that successive probes can reach other pods behind a load
// balancer.
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// probe makes one request, bounded by the per-request timeout, and reads at
// most MaxBody of the response.
func (p *prober) probe(ctx context.Context, u string, attempt int) Measurement {
	m := Measurement{URL: u, Attempt: attempt, At: p.now()}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		m.Problem = err.Error()
		return m
	}
	for k, vs := range p.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if h := p.header.Get("Host"); h != "" {
		req.Host = h
	}
	req.Header.Set("User-Agent", "mlship-health-rollback")
	start := p.now()
	resp, err := p.client.Do(req)
	if err != nil {
		m.Latency = ms(p.now().Sub(start))
		m.Problem = requestProblem(ctx, err, p.timeout)
		return m
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	m.Latency = ms(p.now().Sub(start))
	m.Status = resp.StatusCode
	if len(body) > MaxBody {
		body, m.BodyCut = body[:MaxBody], true
	}
	m.Body = excerpt(body)
	switch {
	case err != nil:
		m.Problem = "reading the response: " + requestProblem(ctx, err, p.timeout)
	case !p.status.has(resp.StatusCode):
		m.Problem = fmt.Sprintf("status %d, want %s", resp.StatusCode, p.status)
	case p.body != nil && !p.body.matches(body):
		m.Problem = "the body is not " + p.body.String()
		if m.BodyCut {
			m.Problem += fmt.Sprintf(" (in its first %d bytes)", MaxBody)
		}
	default:
		m.OK = true
	}
	return m
}

func requestProblem(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "the host name does not resolve (yet): " + dnsErr.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// excerpt is the start of a body, as valid UTF-8 on one line.
func excerpt(b []byte) string {
	if len(b) > excerptSize {
		b = b[:excerptSize]
	}
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
}

// serviceURL waits for the Service's load balancer to have an address
// (watching the Service, up to timeout) and returns the URL to probe.
func serviceURL(ctx context.Context, kc *kube.Client, svc serviceRef, port, path string, timeout time.Duration, log func(string, ...any)) (string, error) {
	sel := fields.OneTermEqualSelector("metadata.name", svc.Name).String()
	api := kc.Kube.CoreV1().Services(svc.Namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return api.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return api.Watch(ctx, o)
		},
	}
	var s *corev1.Service
	err := kc.Retry(ctx, func(ctx context.Context) error {
		var err error
		s, err = api.Get(ctx, svc.Name, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		return "", exitcode.BadInputf("--service %q: no such Service in namespace %s", svc.Name, svc.Namespace)
	case err != nil:
		return "", kube.APIError("reading service "+svc.String(), err)
	case s.Spec.Type != corev1.ServiceTypeLoadBalancer:
		return "", exitcode.BadInputf("--service %q: a %s Service has no load balancer to probe; give --url", svc.String(), s.Spec.Type)
	}
	sp, err := pickPort(s, port)
	if err != nil {
		return "", err
	}
	if addr := lbAddress(s); addr == "" {
		log("waiting up to %s for the load balancer of service %s to get an address", timeout, svc)
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		ev, err := watchtools.UntilWithSync(wctx, lw, &corev1.Service{}, nil, func(ev watch.Event) (bool, error) {
			if ev.Type == watch.Deleted {
				return false, exitcode.Failedf("service %s was deleted while waiting for its load balancer", svc)
			}
			s, ok := ev.Object.(*corev1.Service)
			return ok && s.Name == svc.Name && lbAddress(s) != "", nil
		})
		var coded *exitcode.Error
		switch {
		case errors.As(err, &coded):
			return "", err
		case err != nil && ctx.Err() == nil && wctx.Err() != nil:
			return "", exitcode.Incompletef("the load balancer of service %s has no hostname or IP after %s: nothing to probe", svc, timeout)
		case err != nil:
			return "", kube.APIError("waiting for the load balancer of service "+svc.String(), err)
		}
		s = ev.Object.(*corev1.Service)
	}
	scheme := "http"
	if sp.Port == 443 || strings.EqualFold(sp.Name, "https") {
		scheme = "https"
	}
	host := lbAddress(s)
	if !(scheme == "http" && sp.Port == 80 || scheme == "https" && sp.Port == 443) {
		host = net.JoinHostPort(host, strconv.Itoa(int(sp.Port)))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return (&url.URL{Scheme: scheme, Host: host, Path: pathOnly(path), RawQuery: queryOf(path)}).String(), nil
}

func pathOnly(p string) string { s, _, _ := strings.Cut(p, "?"); return s }
func queryOf(p string) string  { _, q, _ := strings.Cut(p, "?"); return q }

func lbAddress(s *corev1.Service) string {
	for _, in := range s.Status.LoadBalancer.Ingress {
		if in.Hostname != "" {
			return in.Hostname
		}
		if in.IP != "" {
			return in.IP
		}
	}
	return ""
}

// pickPort is the Service port named or numbered port; without one, the
// only port, else the one named http.
func pickPort(s *corev1.Service, port string) (corev1.ServicePort, error) {
	var names []string
	for _, p := range s.Spec.Ports {
		if port != "" && (p.Name == port || strconv.Itoa(int(p.Port)) == port) {
			return p, nil
		}
		names = append(names, fmt.Sprintf("%s:%d", p.Name, p.Port))
	}
	switch {
	case port != "":
		return corev1.ServicePort{}, exitcode.BadInputf("--port %q: service %s/%s has no such port (it has %s)", port, s.Namespace, s.Name, strings.Join(names, ", "))
	case len(s.Spec.Ports) == 1:
		return s.Spec.Ports[0], nil
	}
	for _, p := range s.Spec.Ports {
		if p.Name == "http" {
			return p, nil
		}
	}
	return corev1.ServicePort{}, exitcode.BadInputf("--service %q: it has %d ports (%s); name one with --port", s.Namespace+"/"+s.Name, len(s.Spec.Ports), strings.Join(names, ", "))
}
