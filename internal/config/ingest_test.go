package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIngestRetryBackoff(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		env       map[string]string
		wantBase  time.Duration
		wantLimit time.Duration
		wantErr   []string
	}{
		{name: "defaults", yaml: "ingest:\n  dir: /tmp/in\n", wantBase: 5 * time.Second, wantLimit: 5 * time.Minute},
		{name: "set in YAML", yaml: "ingest:\n  retry_backoff: 2s\n  max_retry_backoff: 1h\n", wantBase: 2 * time.Second, wantLimit: time.Hour},
		{
			name: "set from the environment", yaml: "ingest:\n  dir: /tmp/in\n",
			env:      map[string]string{"SECOPS_INGEST_RETRY_BACKOFF": "10s", "SECOPS_INGEST_MAX_RETRY_BACKOFF": "15m"},
			wantBase: 10 * time.Second, wantLimit: 15 * time.Minute,
		},
		{name: "sub-second base", yaml: "ingest:\n  retry_backoff: 500ms\n", wantErr: []string{"ingest.retry_backoff (line 2): must be at least 1s"}},
		{name: "zero base", yaml: "ingest:\n  retry_backoff: 0s\n", wantErr: []string{"ingest.retry_backoff (line 2): must be at least 1s"}},
		{name: "limit below base", yaml: "ingest:\n  retry_backoff: 1m\n  max_retry_backoff: 30s\n", wantErr: []string{"ingest.max_retry_backoff (line 3): must be at least ingest.retry_backoff (1m0s)"}},
		{name: "limit beyond what SQS can hide", yaml: "ingest:\n  max_retry_backoff: 13h\n", wantErr: []string{"ingest.max_retry_backoff (line 2): must be at most 12h"}},
		{name: "not a duration", yaml: "ingest:\n  retry_backoff: soon\n", wantErr: []string{`ingest.retry_backoff (line 2): got "soon", want a duration with a unit`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			cfg, err := Parse(tc.yaml, env)
			if len(tc.wantErr) > 0 {
				var cerr *Error
				if !errors.As(err, &cerr) {
					t.Fatalf("Parse error = %v, want *Error", err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not mention %q:\n%s", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if cfg.Ingest.RetryBackoff != tc.wantBase || cfg.Ingest.MaxRetryBackoff != tc.wantLimit {
				t.Errorf("retry backoff = %v up to %v, want %v up to %v", cfg.Ingest.RetryBackoff, cfg.Ingest.MaxRetryBackoff, tc.wantBase, tc.wantLimit)
			}
		})
	}
}
