package iampolicy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/secops-bot/secops-bot/internal/config"
)

const k8sDir = "../../deploy/kubernetes"

// Only the fields the checks read; the rest of each object is ignored.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas     *int        `yaml:"replicas"`
		MinAvailable *int        `yaml:"minAvailable"`
		Selector     k8sSelector `yaml:"selector"`
		Ports        []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// k8sSelector is a Deployment or PDB selector (matchLabels) or a Service
// selector (a plain map), decoded from either shape.
type k8sSelector map[string]string

func (s *k8sSelector) UnmarshalYAML(n *yaml.Node) error {
	var m struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	if err := n.Decode(&m); err == nil && m.MatchLabels != nil {
		*s = m.MatchLabels
		return nil
	}
	var plain map[string]string
	if err := n.Decode(&plain); err != nil {
		return err
	}
	*s = plain
	return nil
}

type podSpec struct {
	ServiceAccountName string `yaml:"serviceAccountName"`
	SecurityContext    struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name  string `yaml:"name"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string  `yaml:"name"`
		Value     *string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe   probe `yaml:"livenessProbe"`
	ReadinessProbe  probe `yaml:"readinessProbe"`
	SecurityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// loadManifests decodes every document of every manifest, keyed by kind.
func loadManifests(t *testing.T) map[string][]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	out := map[string][]k8sObject{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(src))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[o.Kind] = append(out[o.Kind], o)
		}
	}
	return out
}

func one(t *testing.T, objs map[string][]k8sObject, kind string) k8sObject {
	t.Helper()
	if len(objs[kind]) != 1 {
		t.Fatalf("want one %s, found %d", kind, len(objs[kind]))
	}
	return objs[kind][0]
}

func isTrue(b *bool) bool { return b != nil && *b }

// show prints an optional number for a message.
func show(n *int) string {
	if n == nil {
		return "unset"
	}
	return strconv.Itoa(*n)
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// secretEnv are the variables that carry secrets; each must come from the
// Secret, never a literal in a manifest.
var secretEnv = []string{"SECOPS_SLACK_APP_TOKEN", "SECOPS_SLACK_BOT_TOKEN", "SECOPS_STORE_DSN", "SECOPS_JIRA_API_TOKEN"}

var secretish = regexp.MustCompile(`(?i)token|dsn|password|secret|key`)

func TestKubernetesDeployment(t *testing.T) {
	objs := loadManifests(t)
	d := one(t, objs, "Deployment")
	pod := d.Spec.Template.Spec
	podLabels := d.Spec.Template.Metadata.Labels

	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %s, want 2", show(d.Spec.Replicas))
	}
	if !selects(d.Spec.Selector, podLabels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", d.Spec.Selector, podLabels)
	}
	if !isTrue(pod.SecurityContext.RunAsNonRoot) {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	sa := one(t, objs, "ServiceAccount")
	if pod.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("serviceAccountName = %q, want %q", pod.ServiceAccountName, sa.Metadata.Name)
	}
	if !strings.HasPrefix(sa.Metadata.Annotations["eks.amazonaws.com/role-arn"], "arn:aws:iam::") {
		t.Errorf("the ServiceAccount has no IRSA role annotation: %v", sa.Metadata.Annotations)
	}
	cm := one(t, objs, "ConfigMap")
	configVolume := ""
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
			configVolume = v.Name
		}
	}
	if configVolume == "" {
		t.Errorf("no volume mounts ConfigMap %s", cm.Metadata.Name)
	}

	if len(pod.Containers) == 0 {
		t.Fatal("no containers")
	}
	for _, c := range pod.Containers {
		t.Run(c.Name, func(t *testing.T) {
			sc := c.SecurityContext
			if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.SecurityContext.RunAsNonRoot) {
				t.Error("runs as root")
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				t.Error("readOnlyRootFilesystem is not true")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Error("allowPrivilegeEscalation is not false")
			}
			if !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("capabilities.drop = %v, want ALL", sc.Capabilities.Drop)
			}
			metrics := false
			for _, p := range c.Ports {
				metrics = metrics || p.Name == "http-metrics" && p.ContainerPort == 9090
			}
			if !metrics {
				t.Errorf("no port 9090 named http-metrics: %+v", c.Ports)
			}
			for _, pr := range []struct {
				name, path string
				p          probe
			}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}} {
				if pr.p.HTTPGet == nil || pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Port != "http-metrics" {
					t.Errorf("%s probe = %+v, want GET %s on http-metrics", pr.name, pr.p.HTTPGet, pr.path)
				}
			}
			fromSecret := map[string]bool{}
			for _, e := range c.Env {
				if e.Value != nil && secretish.MatchString(e.Name) {
					t.Errorf("env %s is set inline; take it from the Secret", e.Name)
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Key != "" {
					fromSecret[e.Name] = true
				}
			}
			for _, name := range secretEnv {
				if !fromSecret[name] {
					t.Errorf("env %s does not come from a Secret", name)
				}
			}
			mounted := false
			for _, m := range c.VolumeMounts {
				mounted = mounted || m.Name == configVolume && m.MountPath == "/etc/secops-bot"
			}
			if !mounted {
				t.Error("the configuration is not mounted at /etc/secops-bot")
			}
		})
	}
	if len(objs["Secret"]) != 0 {
		t.Error("a manifest holds a Secret; secrets are created out of band")
	}

	svc := one(t, objs, "Service")
	if !selects(svc.Spec.Selector, podLabels) {
		t.Errorf("the Service's selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "http-metrics" {
		t.Errorf("the Service's ports = %+v, want one targeting http-metrics", svc.Spec.Ports)
	}
	pdb := one(t, objs, "PodDisruptionBudget")
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != 1 {
		t.Errorf("minAvailable = %s, want 1", show(pdb.Spec.MinAvailable))
	}
	if !selects(pdb.Spec.Selector, podLabels) {
		t.Errorf("the PDB's selector %v does not select the pods %v", pdb.Spec.Selector, podLabels)
	}
}

// TestKubernetesConfig loads the ConfigMap's config.yaml the way the bot
// does: it must be valid with the Secret's variables set, use PostgreSQL
// (two replicas cannot share SQLite), and be incomplete without them,
// which shows the secrets are not inline.
func TestKubernetesConfig(t *testing.T) {
	cm := one(t, loadManifests(t), "ConfigMap")
	text, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no config.yaml")
	}
	env := map[string]string{
		"SECOPS_SLACK_APP_TOKEN": "xapp-1-test",
		"SECOPS_SLACK_BOT_TOKEN": "xoxb-test",
		"SECOPS_STORE_DSN":       "postgres://secops:pw@db:5432/secops",
	}
	cfg, err := config.Parse(text, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config.yaml does not load: %v", err)
	}
	if cfg.Store.Driver != "postgres" {
		t.Errorf("store.driver = %q, want postgres", cfg.Store.Driver)
	}
	if cfg.Store.DSN != env["SECOPS_STORE_DSN"] || cfg.Slack.BotToken != env["SECOPS_SLACK_BOT_TOKEN"] {
		t.Error("the environment did not supply the secrets")
	}
	bare, _ := config.Parse(text, nil)
	if bare.Store.DSN != "" || bare.Slack.AppToken != "" || bare.Slack.BotToken != "" || bare.Jira.APIToken != "" {
		t.Error("config.yaml holds a secret inline")
	}
	if u := cfg.Ingest.SQSQueueURL; u != "" {
		if _, err := QueueARN(u); err != nil {
			t.Errorf("iam-policy cannot read the deployed queue URL: %v", err)
		}
	}
}
