package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyFunc says whether the bot can do its work; a non-nil error is the
// reason it cannot, shown to whoever probes /readyz.
type ReadyFunc func(ctx context.Context) error

// readyTimeout bounds one readiness check, so a hung store answers the
// probe with 503 instead of leaving it hanging.
const readyTimeout = 5 * time.Second

// Handler serves /metrics, /healthz (the process is alive) and /readyz
// (ready() returned nil). A nil ready is always ready.
func (m *Metrics) Handler(ready ReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// Serve listens on addr (e.g. ":9090") and serves Handler until ctx ends,
// then shuts down gracefully.
func (m *Metrics) Serve(ctx context.Context, addr string, ready ReadyFunc) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	return m.ServeListener(ctx, ln, ready)
}

// ServeListener is Serve on a listener the caller opened, so a caller that
// asked for port 0 knows the port. It closes ln.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener, ready ReadyFunc) error {
	srv := &http.Server{
		Handler:           m.Handler(ready),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("metrics server shutdown: %w", err)
	}
	return nil
}

// Cached remembers the result of a check for ttl, so that frequent probes
// do not become frequent calls to a rate-limited API such as Slack's.
func Cached(ttl time.Duration, check ReadyFunc) ReadyFunc {
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !checked.IsZero() && time.Since(checked) < ttl {
			return last
		}
		last = check(ctx)
		checked = time.Now()
		return last
	}
}
