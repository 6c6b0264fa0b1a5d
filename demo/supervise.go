package demo

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Supervisor runs the `triad run` child of each node of a Layout. A child
// that dies unexpectedly is logged and not restarted; the others keep
// running. PID, Running, ExitStatus and Signal take a node's name. Its
// methods are safe for concurrent use.
type Supervisor struct {
	*procs
	l      *Layout
	binary string

	binMu    sync.Mutex
	binaries map[string]string // node name → binary, where UseBinary set one

	manifestMu sync.Mutex // serialises manifest writes

	proxyMu sync.Mutex
	proxy   *Proxy // in front of the nodes, once AttachProxy named it
}

// Start starts every node of l at once (their etcd members need each other
// to form the cluster): `binary run --config DIR/nN/triad.yaml`, stdout and
// stderr appended to DIR/nN/triad.log. It then writes DIR/demo.json. It
// does not wait for the nodes to be ready, and starts no HAProxy (see
// StartProxy). On error it stops the children it started.
func Start(l *Layout, binary string, log *slog.Logger) (*Supervisor, error) {
	s := &Supervisor{procs: newProcs("node", log), l: l, binary: binary}
	for _, n := range l.Nodes {
		if err := s.startChild(n); err != nil {
			return nil, errors.Join(err, s.Stop(time.Second))
		}
	}
	if err := s.writeManifest(); err != nil {
		return nil, errors.Join(err, s.Stop(time.Second))
	}
	return s, nil
}

// startChild starts n's child; n must not be running.
func (s *Supervisor) startChild(n Node) error {
	s.binMu.Lock()
	bin := s.binary
	if b, ok := s.binaries[n.Name]; ok {
		bin = b
	}
	s.binMu.Unlock()
	return s.start(n.Name, n.LogPath, bin, "run", "--config", n.ConfigPath)
}

// UseBinary makes node name run binary from its next start on (an
// upgrade, in tests of mixed-version clusters).
func (s *Supervisor) UseBinary(name, binary string) {
	s.binMu.Lock()
	defer s.binMu.Unlock()
	if s.binaries == nil {
		s.binaries = map[string]string{}
	}
	s.binaries[name] = binary
}

// RestartStopped starts again every node whose child has exited, on the
// same config and data, rewrites the manifest, and returns the names of
// the nodes restarted.
func (s *Supervisor) RestartStopped() ([]string, error) {
	var started []string
	var errs []error
	for _, n := range s.l.Nodes {
		if s.Running(n.Name) {
			continue
		}
		if err := s.startChild(n); err != nil {
			errs = append(errs, err)
			continue
		}
		started = append(started, n.Name)
	}
	if len(started) > 0 {
		errs = append(errs, s.writeManifest())
	}
	return started, errors.Join(errs...)
}

// AttachProxy records the HAProxy and agent in front of the nodes, so
// that demo.json names them (mqtt, haproxy_pid, haproxy_socket,
// lbagent_pid), and rewrites demo.json. Call it again after
// Proxy.RestartStopped to record the new pids.
func (s *Supervisor) AttachProxy(p *Proxy) error {
	s.proxyMu.Lock()
	s.proxy = p
	s.proxyMu.Unlock()
	return s.writeManifest()
}

// Manifest describes the nodes with their latest pids, and the proxy once
// attached.
func (s *Supervisor) Manifest() Manifest {
	pids := map[string]int{}
	s.mu.Lock()
	for name, c := range s.children {
		pids[name] = c.pid
	}
	s.mu.Unlock()
	m := s.l.manifest(os.Getpid(), pids)
	s.proxyMu.Lock()
	p := s.proxy
	s.proxyMu.Unlock()
	if p != nil {
		m.MQTT, m.HAProxySocket = s.l.Proxy.MQTTAddr, s.l.Proxy.Socket
		m.HAProxyPID, m.LBAgentPID = p.HAProxyPID(), p.AgentPID()
	}
	return m
}

func (s *Supervisor) writeManifest() error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	return WriteManifest(s.l.ManifestPath(), s.Manifest())
}

// Stop sends SIGTERM to every running child, waits up to grace for all to
// exit, then sends SIGKILL to those left and waits for them. It removes no
// file and stops no proxy (Proxy.Stop does). After Stop no node is started
// again. It returns an error only if a child could not be signalled or
// reaped.
func (s *Supervisor) Stop(grace time.Duration) error {
	return s.stop(s.l.nodeNames(), grace)
}

// startFailure reports a child that has exited, with the end of its log.
// A nil s reports nothing.
func (s *Supervisor) startFailure() error {
	if s == nil {
		return nil
	}
	return s.exited(s.l.nodeNames())
}
