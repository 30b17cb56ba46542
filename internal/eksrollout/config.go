package eksrollout

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/kube"
)

// DefaultTimeout is how long a rollout is waited for.
const DefaultTimeout = 5 * time.Minute

// Config is one rollout, as given on the command line or as action inputs.
// Validate checks it and fills in the parsed fields; Run needs a validated
// Config.
type Config struct {
	Target    kube.Target
	Namespace string // "" is the kubeconfig context's (or default)

	// Deployment is the workload to change (--container) or to report on:
	// NAME, or KIND/NAME as kubectl writes it; Kind is its kind when NAME
	// alone is given.
	Deployment string
	Kind       string

	Containers []string // NAME=IMAGE, or IMAGE for the only container
	Manifests  []string // files or directories
	Images     []string // NAME=IMAGE substituted in the manifests

	// For an InferenceService: the model's storage URI, and the share of
	// traffic the new revision gets ("" leaves it as it is).
	StorageURI           string
	CanaryTrafficPercent string

	Timeout           time.Duration
	RollbackOnFailure bool
	ForceConflicts    bool
	DryRun            bool
	StateFile         string

	// Filled in by Validate.
	ref        *kube.Ref // the workload named by Deployment (namespace filled in by Run when not given)
	containers map[string]string
	subs       []kube.ImageSub
	objects    []kube.Object
	canary     *int64
}

// Validate checks every input and parses them. It reads only local files
// (the manifests): bad input is found before any call (exit 2).
func (c *Config) Validate() error {
	bad := exitcode.BadInputf
	if err := c.Target.Validate(); err != nil {
		return err
	}
	if c.Namespace != "" {
		if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
			return bad("--namespace %q: not a namespace name (%s)", c.Namespace, errs[0])
		}
	}
	kind := kube.Deployment
	if c.Kind != "" {
		k, ok := kube.ParseKind(c.Kind)
		if !ok {
			return bad("--kind %q: unknown kind (want %s)", c.Kind, kube.KindNames)
		}
		kind = k
	}
	if c.Deployment != "" {
		r, err := kube.ParseRef(c.Deployment, kind, "default")
		if err != nil {
			return err
		}
		r.Namespace = c.Namespace
		c.ref = &r
	}
	if err := c.validateInferenceService(); err != nil {
		return err
	}
	if len(c.Containers) == 0 && len(c.Manifests) == 0 && !c.isvc() {
		return bad("nothing to roll out: give --container NAME=IMAGE (with --deployment) or --manifest")
	}
	if len(c.Containers) > 0 && c.ref == nil {
		return bad("--container %q: needs --deployment naming the workload to set it on", c.Containers[0])
	}
	c.containers = map[string]string{}
	for _, s := range c.Containers {
		name, img, ok := strings.Cut(strings.TrimSpace(s), "=")
		if !ok {
			name, img = "", name
		}
		if err := kube.ParseImageRef(img); err != nil {
			return bad("--container %q: %q is not an image reference: %v", s, img, err)
		}
		if name != "" && name != kube.AnyContainer {
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				return bad("--container %q: %q is not a container name (%s)", s, name, errs[0])
			}
		}
		if _, dup := c.containers[name]; dup {
			return bad("--container %q: container %s is set twice", s, describeName(name))
		}
		c.containers[name] = img
	}
	if len(c.containers) > 1 {
		if _, ok := c.containers[""]; ok {
			return bad("--container %q: an image without a container name is for a pod with one container; name each container (NAME=IMAGE)", c.containers[""])
		}
	}
	if len(c.Images) > 0 && len(c.Manifests) == 0 {
		return bad("--image %q: substitutes images in --manifest files; to set a workload's image use --container", c.Images[0])
	}
	for _, s := range c.Images {
		sub, err := kube.ParseImageSub(s)
		if err != nil {
			return err
		}
		c.subs = append(c.subs, sub)
	}
	if len(c.Manifests) > 0 {
		objs, err := kube.LoadManifests(c.Manifests, c.subs)
		if err != nil {
			return err
		}
		c.objects = objs
		if err := c.checkManifestWorkloads(); err != nil {
			return err
		}
	}
	switch {
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	case c.Timeout < 0:
		return bad("--timeout %s: must be more than zero", c.Timeout)
	}
	if c.StateFile != "" {
		if err := kube.CheckStatePath(c.StateFile); err != nil {
			return bad("--state-file %q: %v", c.StateFile, err)
		}
	}
	return nil
}

func (c *Config) isvc() bool { return c.ref != nil && c.ref.Kind == kube.InferenceService }

// maxStorageURI bounds --storage-uri (KServe's URIs are bucket paths, PVC
// paths and model hub names).
const maxStorageURI = 2048

// validateInferenceService checks the inputs that are for an
// InferenceService only, and that one is given what it can take.
func (c *Config) validateInferenceService() error {
	bad := exitcode.BadInputf
	if s := strings.TrimSpace(c.CanaryTrafficPercent); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 100 {
			return bad("--canary-traffic-percent %q: want a whole number from 0 to 100", c.CanaryTrafficPercent)
		}
		c.canary = &n
	}
	if c.StorageURI != "" {
		u, err := url.Parse(c.StorageURI)
		switch {
		case len(c.StorageURI) > maxStorageURI:
			return bad("--storage-uri: longer than %d characters", maxStorageURI)
		case err != nil || u.Scheme == "" || strings.ContainsAny(c.StorageURI, " \t\r\n"):
			return bad("--storage-uri %q: not a model URI with a scheme (s3://, gs://, pvc://, hf://, https://, oci://)", c.StorageURI)
		}
	}
	if !c.isvc() {
		switch {
		case c.StorageURI != "":
			return bad("--storage-uri %q: is for an InferenceService (--deployment inferenceservice/NAME)", c.StorageURI)
		case c.canary != nil:
			return bad("--canary-traffic-percent %q: is for an InferenceService (--deployment inferenceservice/NAME)", c.CanaryTrafficPercent)
		}
		return nil
	}
	if len(c.Manifests) > 0 {
		return bad("--manifest %q: an InferenceService is changed with --storage-uri, --container and --canary-traffic-percent, not from manifests", c.Manifests[0])
	}
	if len(c.Containers) == 0 && c.StorageURI == "" && c.canary == nil {
		return bad("--deployment %q: nothing to roll out: give --storage-uri URI, --container NAME=IMAGE or --canary-traffic-percent N", c.Deployment)
	}
	return nil
}

// checkManifestWorkloads makes sure --deployment, with manifests and no
// --container, names one of their workloads (it is the one reported).
func (c *Config) checkManifestWorkloads() error {
	var names []string
	found := false
	for _, o := range c.objects {
		r, ok := o.WorkloadRef(c.Namespace)
		if !ok {
			continue
		}
		if c.Namespace != "" && o.GetNamespace() != "" && o.GetNamespace() != c.Namespace {
			return exitcode.BadInputf("--manifest %s: %s is in namespace %s, but --namespace is %s", o.Source, r, o.GetNamespace(), c.Namespace)
		}
		names = append(names, r.String())
		if c.ref != nil && r.Kind == c.ref.Kind && r.Name == c.ref.Name {
			found = true
		}
	}
	if c.ref != nil && len(c.Containers) == 0 && !found {
		return exitcode.BadInputf("--deployment %q: not among the workloads of the manifests (%s)", c.Deployment, strings.Join(names, ", "))
	}
	return nil
}

func describeName(n string) string {
	switch n {
	case "":
		return "(the only one)"
	case kube.AnyContainer:
		return "* (every one)"
	}
	return fmt.Sprintf("%q", n)
}
