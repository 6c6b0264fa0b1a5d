package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Supervisor runs the `triad run` child of each node of a Layout. A child
// that dies unexpectedly is logged and not restarted; the others keep
// running. Its methods are safe for concurrent use.
type Supervisor struct {
	l      *Layout
	binary string
	log    *slog.Logger

	manifestMu sync.Mutex // serialises manifest writes

	mu       sync.Mutex
	children map[string]*child // by node name: the latest child of each node
	stopping bool
}

// child is one `triad run` process.
type child struct {
	pid  int
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and err is set
	err  error         // as returned by cmd.Wait
}

// Start starts every node of l at once (their etcd members need each other
// to form the cluster): `binary run --config DIR/nN/triad.yaml`, stdout and
// stderr appended to DIR/nN/triad.log. It then writes DIR/demo.json. It
// does not wait for the nodes to be ready. On error it stops the children
// it started.
func Start(l *Layout, binary string, log *slog.Logger) (*Supervisor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{l: l, binary: binary, log: log, children: map[string]*child{}}
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

// startChild starts n's child; n must not be running. Callers hold no lock.
func (s *Supervisor) startChild(n Node) error {
	f, err := os.OpenFile(n.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("demo: %s log: %w", n.Name, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil { // the child has its own descriptor
			s.log.Warn("close log file", "node", n.Name, "error", cerr)
		}
	}()
	if _, err := fmt.Fprintf(f, "--- %s triad demo: %s run --config %s\n",
		time.Now().Format(time.RFC3339), s.binary, n.ConfigPath); err != nil {
		return fmt.Errorf("demo: %s log: %w", n.Name, err)
	}
	cmd := exec.Command(s.binary, "run", "--config", n.ConfigPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return fmt.Errorf("demo: not starting %s: the demo is stopping", n.Name)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("demo: start %s: %w", n.Name, err)
	}
	c := &child{pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	s.children[n.Name] = c
	s.log.Info("node started", "node", n.Name, "pid", c.pid, "log", n.LogPath)
	go s.reap(n, c)
	return nil
}

// reap waits for c to exit and logs how it ended.
func (s *Supervisor) reap(n Node, c *child) {
	err := c.cmd.Wait()
	s.mu.Lock()
	c.err = err
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		s.log.Info("node stopped", "node", n.Name, "pid", c.pid, "status", exitStatus(err))
	} else {
		s.log.Warn("node exited unexpectedly; the others keep running",
			"node", n.Name, "pid", c.pid, "status", exitStatus(err), "log", n.LogPath)
	}
	close(c.done) // after logging: once Stop returns, nothing logs any more
}

// exitStatus renders what cmd.Wait returned: "exit status 1",
// "signal: killed".
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (s *Supervisor) child(name string) *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.children[name]
}

// PID is the pid of name's latest child, 0 if it never started.
func (s *Supervisor) PID(name string) int {
	if c := s.child(name); c != nil {
		return c.pid
	}
	return 0
}

// Running reports whether name's latest child has not exited.
func (s *Supervisor) Running(name string) bool {
	c := s.child(name)
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// ExitStatus says how name's latest child ended: "" while it runs,
// else e.g. "exit status 1" or "signal: killed".
func (s *Supervisor) ExitStatus(name string) string {
	c := s.child(name)
	if c == nil {
		return "not started"
	}
	select {
	case <-c.done:
		return exitStatus(c.err)
	default:
		return ""
	}
}

// Signal sends sig to name's child if it is running.
func (s *Supervisor) Signal(name string, sig syscall.Signal) error {
	c := s.child(name)
	if c == nil {
		return fmt.Errorf("demo: no node %q", name)
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("demo: signal %s (pid %d): %w", name, c.pid, err)
	}
	return nil
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

// Manifest describes the nodes with their latest pids.
func (s *Supervisor) Manifest() Manifest {
	pids := map[string]int{}
	s.mu.Lock()
	for name, c := range s.children {
		pids[name] = c.pid
	}
	s.mu.Unlock()
	return s.l.manifest(os.Getpid(), pids)
}

func (s *Supervisor) writeManifest() error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	return WriteManifest(s.l.ManifestPath(), s.Manifest())
}

// Stop sends SIGTERM to every running child, waits up to grace for all to
// exit, then sends SIGKILL to those left and waits for them. It removes no
// file. After Stop no node is started again. It returns an error only if a
// child could not be signalled or reaped.
func (s *Supervisor) Stop(grace time.Duration) error {
	s.mu.Lock()
	s.stopping = true
	var live []*child
	var names []string
	for _, n := range s.l.Nodes {
		if c := s.children[n.Name]; c != nil {
			live, names = append(live, c), append(names, n.Name)
		}
	}
	s.mu.Unlock()
	var errs []error
	signalAll := func(sig syscall.Signal) {
		for i, c := range live {
			select {
			case <-c.done:
				continue
			default:
			}
			if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("demo: %v to %s (pid %d): %w", sig, names[i], c.pid, err))
			}
		}
	}
	signalAll(syscall.SIGTERM)
	if !waitAll(live, grace) {
		for i, c := range live {
			select {
			case <-c.done:
			default:
				s.log.Warn("node still running after SIGTERM; killing it", "node", names[i], "pid", c.pid, "waited", grace)
			}
		}
		signalAll(syscall.SIGKILL)
		if !waitAll(live, 10*time.Second) {
			errs = append(errs, errors.New("demo: a node survived SIGKILL for 10s"))
		}
	}
	return errors.Join(errs...)
}

// waitAll waits until every child has exited or d has passed.
func waitAll(cs []*child, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, c := range cs {
		select {
		case <-c.done:
		case <-timer.C:
			return false
		}
	}
	return true
}
