package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadLogConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       LogConfig // Dir relative to the project folder
		err        string
	}{
		{name: "default", yaml: "storage: ./w\n", want: LogConfig{Backend: LogEmbedded, Dir: "log"}},
		{name: "embedded dir", yaml: "storage: ./w\nlog: {backend: embedded, dir: ./events}\n", want: LogConfig{Backend: LogEmbedded, Dir: "events"}},
		{name: "kafka", yaml: "storage: ./w\nlog: {backend: kafka, brokers: [a:9092, b:9092]}\n", want: LogConfig{Backend: LogKafka, Brokers: []string{"a:9092", "b:9092"}}},
		{name: "kafka without brokers", yaml: "storage: ./w\nlog: {backend: kafka}\n", err: "needs brokers"},
		{name: "kafka with dir", yaml: "storage: ./w\nlog: {backend: kafka, brokers: [a:1], dir: x}\n", err: "dir is for the embedded backend"},
		{name: "embedded with brokers", yaml: "storage: ./w\nlog: {brokers: [a:1]}\n", err: "brokers are for backend kafka"},
		{name: "unknown backend", yaml: "storage: ./w\nlog: {backend: pulsar}\n", err: `unknown backend "pulsar"`},
		{name: "typo", yaml: "storage: ./w\nlog: {backnd: kafka}\n", err: "backnd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := Load(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := p.Config.Log
			if tc.want.Dir != "" {
				tc.want.Dir = filepath.Join(p.Dir, tc.want.Dir)
			}
			if got.Backend != tc.want.Backend || got.Dir != tc.want.Dir || strings.Join(got.Brokers, ",") != strings.Join(tc.want.Brokers, ",") {
				t.Errorf("log config = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestInitWritesALoadableLogConfig(t *testing.T) {
	p, err := Init(filepath.Join(t.TempDir(), "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Config.Log.Backend != LogEmbedded || p.Config.Log.Dir != filepath.Join(p.Dir, "log") {
		t.Errorf("init's log config = %+v", p.Config.Log)
	}
}
