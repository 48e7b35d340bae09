package metrics

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/fsutil"
)

// Timings of the endpoint and the textfile writer, each with its reason.
const (
	// TextfileRefresh is the longest time between two writes of the
	// textfile: the "at least every minute", so that its gauges
	// (seconds left before a deadline) and its mtime stay fresh.
	TextfileRefresh = time.Minute
	// listenRetry spaces attempts to bind metrics.listen while it is taken
	// (another agent not yet gone after a restart): metrics are not worth
	// more than one try a minute, and the agent's work goes on meanwhile.
	listenRetry = time.Minute
	// readHeaderTimeout and writeTimeout bound a scraper that is slow or
	// stuck, so that it cannot hold connections open for ever.
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 10 * time.Second
	// shutdownGrace is how long a scrape in progress may finish at stop.
	shutdownGrace = 2 * time.Second
	// textfileMode lets node_exporter, which runs as its own user, read
	// the file; the metrics hold nothing secret.
	textfileMode = 0o644
)

// Handler serves the exposition on GET (and HEAD) /metrics.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_ = r.WritePrometheus(w) // a scraper that hung up: nothing to do
	})
	return mux
}

// Serve runs what cfg asks for, the /metrics endpoint and the textfile
// writer, until ctx ends; the textfile is written once more then, so that
// it holds the last counts. Trouble (the address taken, the file not
// writable) is logged, retried and never stops the agent: metrics are not
// worth failing a lifecycle hook for. It returns when everything it
// started has stopped.
func (r *Registry) Serve(ctx context.Context, cfg config.Metrics, log zerolog.Logger) {
	log = log.With().Str("component", "metrics").Logger()
	var wg sync.WaitGroup
	if cfg.Listen != "" {
		wg.Go(func() { r.serveHTTP(ctx, cfg, log) })
	}
	if cfg.Textfile != "" {
		wg.Go(func() { r.writeTextfiles(ctx, cfg.Textfile, log) })
	}
	wg.Wait()
}

// serveHTTP serves the endpoint on cfg.Listen, binding again every
// listenRetry while the address cannot be had.
func (r *Registry) serveHTTP(ctx context.Context, cfg config.Metrics, log zerolog.Logger) {
	if err := cfg.CheckListen(); err != nil {
		log.Error().Err(err).Str("listen", cfg.Listen).Msg("metrics.listen refused; no metrics endpoint")
		return
	}
	var lc net.ListenConfig
	failing := false
	for {
		ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
		if err == nil {
			log.Info().Str("listen", ln.Addr().String()).Msg("serving metrics on /metrics")
			r.serveOn(ctx, ln, log)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !failing {
			failing = true
			log.Error().Err(err).Str("listen", cfg.Listen).Stringer("retry", listenRetry).Msg("cannot serve metrics; will try again")
		}
		t := r.clock.NewTimer(listenRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		}
	}
}

// serveOn serves the endpoint on ln until ctx ends, then lets a scrape in
// progress finish for at most shutdownGrace.
func (r *Registry) serveOn(ctx context.Context, ln net.Listener, log zerolog.Logger) {
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: readHeaderTimeout, WriteTimeout: writeTimeout}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Error().Err(err).Msg("the metrics endpoint stopped")
		return
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-served
}

// writeTextfiles writes the textfile at once, after each change and at
// least every TextfileRefresh, and a last time when ctx ends. A failure is
// logged when it starts and when it is over, not on every write.
func (r *Registry) writeTextfiles(ctx context.Context, path string, log zerolog.Logger) {
	tick := r.clock.NewTicker(TextfileRefresh)
	defer tick.Stop()
	failing := ""
	for {
		err := r.WriteTextfile(path)
		switch {
		case err != nil && err.Error() != failing:
			failing = err.Error()
			log.Error().Err(err).Str("textfile", path).Msg("cannot write the metrics textfile; will try again")
		case err == nil && failing != "":
			failing = ""
			log.Info().Str("textfile", path).Msg("writing the metrics textfile works again")
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-r.changes:
		case <-tick.Chan():
		}
	}
}

// WriteTextfile writes the exposition to path atomically (see
// fsutil.WriteFileAtomicPerm), readable by all.
func (r *Registry) WriteTextfile(path string) error {
	var b bytes.Buffer
	if err := r.WritePrometheus(&b); err != nil {
		return err
	}
	return fsutil.WriteFileAtomicPerm(path, b.Bytes(), textfileMode)
}
