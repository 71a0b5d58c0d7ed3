package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"sigs.k8s.io/yaml"
)

// simOutputSecret is the --output of "sim init" that prints a Secret manifest.
const simOutputSecret = "secret-yaml"

// dns1123 is a Kubernetes object name (RFC 1123 subdomain label form).
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func checkSecretNames(name, namespace string) error {
	if len(name) > 253 || !dns1123.MatchString(name) {
		return fmt.Errorf("--secret-name %q is not a Kubernetes name (lowercase letters, digits and '-', starting and ending alphanumeric)", name)
	}
	if namespace != "" && (len(namespace) > 63 || !dns1123.MatchString(namespace)) {
		return fmt.Errorf("--namespace %q is not a Kubernetes namespace name", namespace)
	}
	return nil
}

// simSecret is the manifest: only the fields a v1 Secret needs, so that the
// CLI does not link the Kubernetes API types.
type simSecret struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   simSecretMeta     `json:"metadata"`
	Type       string            `json:"type"`
	Data       map[string][]byte `json:"data"`
}

type simSecretMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// writeSimSecret prints the files of the state directory dir as a Secret.
func writeSimSecret(w io.Writer, dir, name, namespace string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return withExit(ExitInternal, err)
	}
	data := map[string][]byte{}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return withExit(ExitInternal, err)
		}
		data[e.Name()] = b
		names = append(names, e.Name())
	}
	if len(data) == 0 {
		return withExit(ExitInternal, errors.New("sim init: the state directory is empty"))
	}
	sort.Strings(names)
	s := simSecret{
		APIVersion: "v1", Kind: "Secret", Type: "Opaque", Data: data,
		Metadata: simSecretMeta{
			Name: name, Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "sgxops", "sgxops.io/simulated": "true"},
			Annotations: map[string]string{
				"sgxops.io/insecure": "SIMULATED SGX platform (keys of a simulated Intel PCK hierarchy): its quotes prove nothing about real hardware",
			},
		},
	}
	b, err := yaml.Marshal(s)
	if err != nil {
		return withExit(ExitInternal, err)
	}
	header := "# INSECURE: SIMULATED SGX platform made by \"sgxops sim init --output secret-yaml\".\n" +
		"# Files: " + fmt.Sprint(names) + "\n"
	if _, err := io.WriteString(w, header+"---\n"+string(b)); err != nil {
		return withExit(ExitInternal, err)
	}
	return nil
}
