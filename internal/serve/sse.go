package serve

import (
	"encoding/json"
	"net/http"
	"time"
)

// ssePing is how often an idle event stream gets a comment line (keeps proxies from closing it).
const ssePing = 15 * time.Second

// handleEvents answers GET /api/events with a server-sent event stream: a comment line once
// subscribed (": connected"), then `event: refresh` with data {"table", "flow", "version",
// "time"} for every commit a pipeline makes, each flushed at once, and a comment every 15 s. It
// ends when the client goes away or the server shuts down. Commits made while the client is not
// reading fast enough are skipped (the client refreshes on the next one anyway).
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	commits, cancel := s.monitor.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(": connected\n\n")); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		s.logger.Warn("serve: event stream: the connection cannot flush", "err", err)
		return
	}
	ping := time.NewTicker(ssePing)
	defer ping.Stop()
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			msg = []byte(": ping\n\n")
		case c, ok := <-commits:
			if !ok {
				return
			}
			data, _ := json.Marshal(c)
			msg = append(append([]byte("event: refresh\ndata: "), data...), '\n', '\n')
		}
		if _, err := w.Write(msg); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
