package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Probe is what one node's HTTP endpoints answered.
type Probe struct {
	Node             string
	Status           int  // of GET /leader; 0 if the node did not answer
	Leader           bool // GET /leader answered 200: this node leads
	NoLeaderEndpoint bool // GET /leader got net/http's own 404: this triad has no /leader
	Healthy          bool // GET /health answered 200 (asked only when NoLeaderEndpoint)
	Err              error
}

func (p Probe) String() string {
	switch {
	case p.Err != nil:
		return fmt.Sprintf("%s: %v", p.Node, p.Err)
	case p.NoLeaderEndpoint:
		return fmt.Sprintf("%s: no /leader endpoint, /health healthy=%v", p.Node, p.Healthy)
	}
	return fmt.Sprintf("%s: /leader %d", p.Node, p.Status)
}

// muxNotFound is the body net/http's ServeMux sends for a path it does not
// know, which tells a missing /leader from a node that answers 404 itself.
const muxNotFound = "404 page not found\n"

// probeTimeout bounds each HTTP request of a probe.
const probeTimeout = time.Second

var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true}, // a killed node leaves no stale connection
	Timeout:   probeTimeout,
}

// ProbeAll asks every node of l, in parallel, GET /leader, and GET /health
// of those without a /leader endpoint. Cancelling ctx aborts the requests.
func ProbeAll(ctx context.Context, l *Layout) []Probe {
	ps := make([]Probe, len(l.Nodes))
	var wg sync.WaitGroup
	for i, n := range l.Nodes {
		wg.Go(func() { ps[i] = probe(ctx, n) })
	}
	wg.Wait()
	return ps
}

func probe(ctx context.Context, n Node) Probe {
	p := Probe{Node: n.Name}
	status, body, err := get(ctx, "http://"+n.HTTPAddr+"/leader")
	if err != nil {
		p.Err = err
		return p
	}
	p.Status = status
	p.Leader = status == http.StatusOK
	if status == http.StatusNotFound && body == muxNotFound {
		p.NoLeaderEndpoint = true
		hs, _, err := get(ctx, "http://"+n.HTTPAddr+"/health")
		p.Err = err
		p.Healthy = err == nil && hs == http.StatusOK
	}
	return p
}

// get returns the status and (up to 1 KiB of) the body of GET url.
func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return resp.StatusCode, string(body), err
}

// Leaders returns the names of the nodes whose /leader answered 200.
func Leaders(ps []Probe) []string {
	var names []string
	for _, p := range ps {
		if p.Leader {
			names = append(names, p.Node)
		}
	}
	return names
}

// Leader is what WaitLeader found.
type Leader struct {
	Node Node // the leader; the zero Node when Unknown
	// Unknown: this triad has no GET /leader (leadership not built in);
	// every node answered GET /health with 200 instead.
	Unknown bool
}

// pollInterval is how often WaitLeader and the demo's leader watch probe.
const pollInterval = 100 * time.Millisecond

// WaitLeader polls every node of l until one answers GET /leader with 200
// (it returns the first such node), or, if the nodes have no /leader
// endpoint, until every node answers GET /health with 200. It fails as
// soon as a child of s exits (s may be nil: no such check), and when ctx
// ends (give it a deadline), with the last answers in the error.
func WaitLeader(ctx context.Context, l *Layout, s *Supervisor) (Leader, error) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last []Probe
	for {
		select {
		case <-ctx.Done():
			return Leader{}, fmt.Errorf("demo: no leader yet (%s): %w", summary(last), ctx.Err())
		case <-timer.C:
		}
		if err := s.startFailure(); err != nil {
			return Leader{}, err
		}
		last = ProbeAll(ctx, l)
		if leaders := Leaders(last); len(leaders) > 0 {
			n, _ := l.Node(leaders[0])
			return Leader{Node: n}, nil
		}
		if allHealthyWithoutLeaderEndpoint(last) {
			return Leader{Unknown: true}, nil
		}
		timer.Reset(pollInterval)
	}
}

func allHealthyWithoutLeaderEndpoint(ps []Probe) bool {
	for _, p := range ps {
		if !p.NoLeaderEndpoint || !p.Healthy {
			return false
		}
	}
	return len(ps) > 0
}

func summary(ps []Probe) string {
	if len(ps) == 0 {
		return "no node asked"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}
