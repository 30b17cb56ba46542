package kube

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/homedir"
	"k8s.io/klog/v2"

	"github.com/mlship/mlship/internal/awsconfig"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/version"
)

// Target says which cluster to talk to: an EKS cluster by name, or a
// kubeconfig and context for any other (kind, k3s, GKE, or EKS through
// `aws eks update-kubeconfig`).
type Target struct {
	Cluster    string // EKS cluster name
	Kubeconfig string // path; "" is KUBECONFIG or ~/.kube/config
	Context    string // kubeconfig context; "" is its current context
}

var clusterNameRe = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)

// Validate checks t without reading anything.
func (t Target) Validate() error {
	if t.Cluster == "" {
		return nil
	}
	if !clusterNameRe.MatchString(t.Cluster) {
		return exitcode.BadInputf("--cluster %q: not an EKS cluster name (letters, digits, - and _, starting with a letter or digit, at most 100)", t.Cluster)
	}
	if t.Kubeconfig != "" || t.Context != "" {
		return exitcode.BadInputf("--cluster %q: give either --cluster (EKS, no kubeconfig needed) or --kubeconfig/--context, not both", t.Cluster)
	}
	return nil
}

// String names the cluster for messages.
func (t Target) String() string {
	switch {
	case t.Cluster != "":
		return "EKS cluster " + t.Cluster
	case t.Context != "":
		return "kubeconfig context " + t.Context
	}
	return "the kubeconfig's current context"
}

// LoadKubeconfig reads the kubeconfig at path (or KUBECONFIG, or
// ~/.kube/config; in a pod with none, the pod's service account) with
// context kubeContext, and returns its client configuration and namespace.
// It reads only local files: every error is bad input.
func LoadKubeconfig(path, kubeContext string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		var given []string
		if path != "" {
			given = append(given, fmt.Sprintf("--kubeconfig %q", path))
		}
		if kubeContext != "" {
			given = append(given, fmt.Sprintf("--context %q", kubeContext))
		}
		where := strings.Join(given, " ")
		if path == "" {
			files := rules.Precedence
			if len(files) == 0 {
				files = []string{filepath.Join(homedir.HomeDir(), ".kube", "config")}
			}
			where = strings.TrimSpace("kubeconfig " + strings.Join(files, string(filepath.ListSeparator)) + " " + where)
		}
		return nil, "", exitcode.BadInputf("%s: %s", where, oneLine(err.Error()))
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	return cfg, ns, nil
}

// EKSAPI is the part of the EKS API a client needs.
type EKSAPI interface {
	DescribeCluster(ctx context.Context, params *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
}

// EKSConfig returns the client configuration of an EKS cluster from its
// DescribeCluster (endpoint and certificate authority), authenticating
// every request with a token from tokens. No kubeconfig is read or
// written and no AWS CLI or exec plugin is run.
func EKSConfig(ctx context.Context, api EKSAPI, tokens *TokenSource, cluster string) (*rest.Config, error) {
	out, err := api.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)})
	var nf *ekstypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, exitcode.BadInputf("--cluster %q: no such EKS cluster in this account and region", cluster)
	case err != nil:
		return nil, exitcode.Incompletef("describing EKS cluster %s: %s", cluster, awsMessage(err))
	case out.Cluster == nil:
		return nil, exitcode.Incompletef("describing EKS cluster %s: no cluster in the answer", cluster)
	}
	c := out.Cluster
	endpoint := aws.ToString(c.Endpoint)
	var ca []byte
	if c.CertificateAuthority != nil {
		ca, err = base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
		if err != nil {
			return nil, exitcode.Incompletef("EKS cluster %s: its certificate authority is not base64: %v", cluster, err)
		}
	}
	if endpoint == "" || len(ca) == 0 {
		return nil, exitcode.Incompletef("EKS cluster %s is %s and has no API endpoint or certificate authority yet", cluster, c.Status)
	}
	switch c.Status {
	case ekstypes.ClusterStatusActive, ekstypes.ClusterStatusUpdating:
	default:
		return nil, exitcode.Incompletef("EKS cluster %s is %s, not ACTIVE", cluster, c.Status)
	}
	cfg := &rest.Config{
		Host:            endpoint,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		WrapTransport:   tokens.WrapTransport,
	}
	return cfg, nil
}

func awsMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		if m := api.ErrorMessage(); m != "" {
			return api.ErrorCode() + ": " + m
		}
		return api.ErrorCode()
	}
	return err.Error()
}

// NewClient returns a Client for cfg working in namespace; userAgent names
// the tool to the API server.
func NewClient(cfg *rest.Config, namespace, server, userAgent string) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	// Deprecation warnings from the API server are not the user's concern
	// in a pipeline step.
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.UserAgent = userAgent
	// The defaults (5 requests a second, bursts of 10) are for controllers
	// sharing an API server; a rollout makes a few dozen calls at most.
	cfg.QPS, cfg.Burst = 50, 100
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, exitcode.BadInputf("configuring the Kubernetes client: %v", err)
	}
	cs, err := newClientset(cfg, httpClient)
	if err != nil {
		return nil, exitcode.BadInputf("configuring the Kubernetes client: %v", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, exitcode.BadInputf("configuring the Kubernetes client: %v", err)
	}
	if server == "" {
		server = cfg.Host
	}
	return &Client{
		Kube:      cs,
		Dynamic:   dyn,
		Mapper:    restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery())),
		Namespace: namespace,
		Server:    server,
		Backoff:   DefaultBackoff,
	}, nil
}

// client-go's reflectors log to stderr through klog, e.g. "Failed to watch
// ... context canceled" when a finished wait stops its watch; the tools
// report what matters themselves. It is set before any client exists
// because client-go reads klog's logger on every request without a lock.
func init() {
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
}

// clientset is the kubernetes.Interface that kubectl's rollbacker takes,
// with the clients of the only API groups used here (apps, core and
// discovery). kubernetes.NewForConfig would link a client for every API
// group the cluster has, some 7 MB of binary. Any other group is nil.
type clientset struct {
	kubernetes.Interface
	apps appsv1client.AppsV1Interface
	core corev1client.CoreV1Interface
	disc discovery.DiscoveryInterface
}

func newClientset(cfg *rest.Config, httpClient *http.Client) (*clientset, error) {
	apps, err := appsv1client.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	core, err := corev1client.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	return &clientset{apps: apps, core: core, disc: disc}, nil
}

func (c *clientset) AppsV1() appsv1client.AppsV1Interface    { return c.apps }
func (c *clientset) CoreV1() corev1client.CoreV1Interface    { return c.core }
func (c *clientset) Discovery() discovery.DiscoveryInterface { return c.disc }

// Connect returns a client for t on behalf of tool (its user agent): with
// t.Cluster, natively from EKS (DescribeCluster, and STS-signed tokens
// renewed as they run out) with the AWS configuration of awsconfig.Load;
// else from the kubeconfig, which is read before any call (a bad one is
// bad input).
func Connect(ctx context.Context, tool string, t Target, region string) (*Client, error) {
	ua := "mlship-" + tool + "/" + version.String()
	if t.Cluster == "" {
		cfg, ns, err := LoadKubeconfig(t.Kubeconfig, t.Context)
		if err != nil {
			return nil, err
		}
		return NewClient(cfg, ns, "", ua)
	}
	awsCfg, err := awsconfig.Load(ctx, tool, region)
	if err != nil {
		return nil, err
	}
	tokens := NewTokenSource(sts.NewPresignClient(sts.NewFromConfig(awsCfg)), t.Cluster, nil)
	cfg, err := EKSConfig(ctx, eks.NewFromConfig(awsCfg), tokens, t.Cluster)
	if err != nil {
		return nil, err
	}
	return NewClient(cfg, "default", "EKS cluster "+t.Cluster, ua)
}
