package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"
)

// KubeRollout is a Kubernetes-aware rollout for a --target run: `kubectl
// rollout restart` of one workload, then wait until `kubectl rollout status`
// says it is complete AND every pod that existed before the restart is
// gone (rollout status returns while old pods still terminate, and those
// are the ones whose drain is measured). kubectl comes from PATH and uses
// its own configuration (KUBECONFIG, context).
type KubeRollout struct {
	// Ref is the workload, KIND/NAME: deployment/api, statefulset/db,
	// daemonset/agent.
	Ref string
	// Namespace is kubectl's -n; empty means kubectl's current namespace.
	Namespace string
	// Timeout bounds the whole rollout (DefaultKubeTimeout if zero).
	Timeout time.Duration
	// Poll is how often the old pods are listed (DefaultKubePoll if zero).
	Poll time.Duration
}

// Defaults for KubeRollout's zero fields.
const (
	DefaultKubeTimeout = 10 * time.Minute
	DefaultKubePoll    = time.Second
)

// ErrKube wraps a Kubernetes rollout that cannot start: no kubectl, no
// such workload, no pods to select. Nothing was restarted.
var ErrKube = errors.New("drain: kubernetes rollout")

func (k KubeRollout) check() error {
	kind, name, ok := strings.Cut(k.Ref, "/")
	switch {
	case !ok || name == "" || strings.Contains(name, "/"):
		return fmt.Errorf("%w: --rollout %q: use KIND/NAME, e.g. deployment/api", ErrKube, k.Ref)
	case !slices.Contains([]string{"deployment", "deploy", "statefulset", "sts", "daemonset", "ds"}, strings.ToLower(kind)) &&
		!strings.Contains(kind, "."): // deployments.apps and the like pass
		return fmt.Errorf("%w: --rollout %q: kubectl rollout restarts deployments, statefulsets and daemonsets", ErrKube, k.Ref)
	case k.Timeout < 0 || k.Poll < 0:
		return fmt.Errorf("%w: negative timeout or poll period", ErrKube)
	}
	return nil
}

// kubeRun is a prepared KubeRollout.
type kubeRun struct {
	k        KubeRollout
	selector string // the workload's pod label selector
	out      io.Writer
}

// kubectl runs kubectl with args (and -n), its stderr to out; it returns
// stdout.
func (r *kubeRun) kubectl(ctx context.Context, args ...string) ([]byte, error) {
	if r.k.Namespace != "" {
		args = append([]string{"-n", r.k.Namespace}, args...)
	}
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if r.out != nil {
		fmt.Fprintf(r.out, "drain: kubectl %s\n", strings.Join(args, " "))
		cmd.Stderr = io.MultiWriter(&stderr, r.out)
		if slices.Contains(args, "rollout") { // its story; get's answers are data
			cmd.Stdout = io.MultiWriter(&stdout, r.out)
		}
	}
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("kubectl %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

// prepare finds kubectl, the workload and its pods' selector, before any
// load: a typo in the name must not cost a run.
func (k KubeRollout) prepare(ctx context.Context, out io.Writer) (*kubeRun, error) {
	if k.Timeout == 0 {
		k.Timeout = DefaultKubeTimeout
	}
	if k.Poll == 0 {
		k.Poll = DefaultKubePoll
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		return nil, fmt.Errorf("%w: %v (--rollout KIND/NAME runs kubectl from PATH)", ErrKube, err)
	}
	r := &kubeRun{k: k, out: out}
	b, err := r.kubectl(ctx, "get", k.Ref, "-o", "jsonpath={.spec.selector.matchLabels}")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKube, err)
	}
	var labels map[string]string
	if err := json.Unmarshal(bytes.TrimSpace(b), &labels); err != nil || len(labels) == 0 {
		return nil, fmt.Errorf("%w: %s has no spec.selector.matchLabels to find its pods by (got %q)", ErrKube, k.Ref, b)
	}
	keys := make([]string, 0, len(labels))
	for key := range labels {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for i, key := range keys {
		keys[i] = key + "=" + labels[key]
	}
	r.selector = strings.Join(keys, ",")
	pods, err := r.pods(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKube, err)
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("%w: no pod matches %s's selector %s: nothing to roll", ErrKube, k.Ref, r.selector)
	}
	return r, nil
}

// pods lists the names of the workload's pods.
func (r *kubeRun) pods(ctx context.Context) ([]string, error) {
	b, err := r.kubectl(ctx, "get", "pods", "-l", r.selector, "-o", "jsonpath={.items[*].metadata.name}")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// run restarts the workload and returns once the rollout is complete and
// every pod that existed before the restart is gone.
func (r *kubeRun) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.k.Timeout)
	defer cancel()
	old, err := r.pods(ctx)
	if err != nil {
		return err
	}
	if _, err := r.kubectl(ctx, "rollout", "restart", r.k.Ref); err != nil {
		return err
	}
	if _, err := r.kubectl(ctx, "rollout", "status", r.k.Ref, "--timeout="+r.k.Timeout.String()); err != nil {
		return err
	}
	t := time.NewTicker(r.k.Poll)
	defer t.Stop()
	for {
		now, err := r.pods(ctx)
		if err != nil {
			return err
		}
		left := 0
		for _, p := range old {
			if slices.Contains(now, p) {
				left++
			}
		}
		if left == 0 {
			if r.out != nil {
				fmt.Fprintf(r.out, "drain: rollout of %s complete, its %d old pods gone\n", r.k.Ref, len(old))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of its old pods still there after %v: %w", r.k.Ref, left, r.k.Timeout, context.Cause(ctx))
		case <-t.C:
		}
	}
}
