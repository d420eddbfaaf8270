package dispatch

import (
	"context"
	"sync"

	"ctvae/wasm/protocol"
)

// Server queues requests and runs them one at a time on an Engine.
//
// In the worker, Receive runs inside the JavaScript onmessage callback and
// Run in its own goroutine. Go's js/wasm port is single threaded and never
// pre-empts: while Run computes, no message is delivered. So between the
// bounded steps of traverse and retrieve, Run posts a progress response and
// calls yield, which in the worker blocks the goroutine until a
// MessageChannel message comes back: the Go runtime, with nothing runnable,
// returns to the JavaScript event loop, which delivers any queued message
// (a cancel calls Receive, which cancels the running request's context)
// before the MessageChannel message resumes Run. The runtime checks the
// context after each step and stops with a "cancelled" error.
type Server struct {
	eng   *Engine
	send  func(protocol.Response)
	yield func()

	mu      sync.Mutex
	queue   []protocol.Request
	pending map[int64]bool               // ids queued or running
	cancel  map[int64]context.CancelFunc // running (non-nil) or cancelled while queued (nil)
	wake    chan struct{}
}

// NewServer returns a server answering through send. yield is called after
// each progress response of a long operation (see Server).
func NewServer(eng *Engine, send func(protocol.Response), yield func()) *Server {
	return &Server{eng: eng, send: send, yield: yield, pending: map[int64]bool{},
		cancel: map[int64]context.CancelFunc{}, wake: make(chan struct{}, 1)}
}

// Receive decodes one message. Bad requests and cancels are answered at
// once; other requests are queued for Run. It never blocks and never panics.
func (s *Server) Receive(head []byte, bufs [][]byte) {
	id := int64(-1)
	defer func() {
		if r := recover(); r != nil {
			s.send(protocol.ErrorResponse(id, protocol.Errorf(protocol.CodeInternal, "engine: receiving request %d crashed (%v); the worker is still running", id, r)))
		}
	}()
	req, err := protocol.DecodeRequest(head, bufs)
	id = req.ID
	if err != nil {
		s.send(protocol.ErrorResponse(req.ID, err))
		return
	}
	s.mu.Lock()
	if s.pending[req.ID] {
		s.mu.Unlock()
		// -1: answering with the id would settle the request already using it.
		s.send(protocol.ErrorResponse(-1, protocol.Errorf(protocol.CodeBadRequest,
			"engine: %s request reuses id %d, which a request in flight has; ids must be unique", req.Op, req.ID)))
		return
	}
	if req.Op == protocol.OpCancel {
		found := s.pending[req.Target]
		if c := s.cancel[req.Target]; c != nil {
			c()
		} else if found {
			s.cancel[req.Target] = nil // queued: Run answers "cancelled" instead of starting it
			delete(s.pending, req.Target)
		}
		s.mu.Unlock()
		s.send(protocol.Response{Head: protocol.Head{ID: req.ID, Type: protocol.TypeResult, Op: protocol.OpCancel, Cancelled: &found}})
		return
	}
	s.pending[req.ID] = true
	s.queue = append(s.queue, req)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // Run is already due to look at the queue
	}
}

// Run serves the queue until ctx is done.
func (s *Server) Run(ctx context.Context) {
	for {
		req, ok := s.next()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		s.run(ctx, req)
	}
}

// Pending is the number of queued or running requests.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *Server) next() (protocol.Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) > 0 {
		req := s.queue[0]
		s.queue = s.queue[1:]
		if _, cancelled := s.cancel[req.ID]; cancelled {
			delete(s.cancel, req.ID)
			s.mu.Unlock()
			s.send(protocol.ErrorResponse(req.ID, protocol.Errorf(protocol.CodeCancelled, "engine: %s request %d was cancelled before it started", req.Op, req.ID)))
			s.mu.Lock()
			continue
		}
		return req, true
	}
	return protocol.Request{}, false
}

func (s *Server) run(ctx context.Context, req protocol.Request) {
	rctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel[req.ID] = cancel
	s.mu.Unlock()
	progress := func(done, total int) {
		s.send(protocol.Response{Head: protocol.Head{ID: req.ID, Type: protocol.TypeProgress, Op: req.Op, Done: done, Total: total}})
		s.yield()
	}
	resp := s.eng.Handle(rctx, req, progress)
	s.mu.Lock()
	delete(s.cancel, req.ID)
	delete(s.pending, req.ID)
	s.mu.Unlock()
	cancel()
	// Sent after the bookkeeping, so the page may reuse the id at once.
	s.send(resp)
}
