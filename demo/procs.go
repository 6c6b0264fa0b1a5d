package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs runs a set of named child processes, each with its output
// appended to a log file: the nodes of a Supervisor, HAProxy and the agent
// of a Proxy. A child that exits is logged and not restarted; the others
// keep running. Its methods are safe for concurrent use.
type procs struct {
	kind string // "node" or "process": the log messages say "node started", "process started"
	log  *slog.Logger

	mu       sync.Mutex
	children map[string]*child // by name: the latest child of each
	logPaths map[string]string // by name: where its output goes
	stopping bool
}

// child is one process.
type child struct {
	pid  int
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and err is set
	err  error         // as returned by cmd.Wait
}

func newProcs(kind string, log *slog.Logger) *procs {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &procs{kind: kind, log: log, children: map[string]*child{}, logPaths: map[string]string{}}
}

// start runs argv as name's child in its own process group (childAttr),
// its stdout and stderr appended to logPath after a line saying what was
// started. name must not be running. Callers hold no lock.
func (g *procs) start(name, logPath string, argv ...string) error {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("demo: %s log: %w", name, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil { // the child has its own descriptor
			g.log.Warn("close log file", g.kind, name, "error", cerr)
		}
	}()
	if _, err := fmt.Fprintf(f, "--- %s triad demo: %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " ")); err != nil {
		return fmt.Errorf("demo: %s log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return fmt.Errorf("demo: not starting %s: the demo is stopping", name)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("demo: start %s: %w", name, err)
	}
	c := &child{pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	g.children[name], g.logPaths[name] = c, logPath
	g.log.Info(g.kind+" started", g.kind, name, "pid", c.pid, "log", logPath)
	go g.reap(name, logPath, c)
	return nil
}

// reap waits for c to exit and logs how it ended.
func (g *procs) reap(name, logPath string, c *child) {
	err := c.cmd.Wait()
	g.mu.Lock()
	c.err = err
	stopping := g.stopping
	g.mu.Unlock()
	if stopping {
		g.log.Info(g.kind+" stopped", g.kind, name, "pid", c.pid, "status", exitStatus(err))
	} else {
		g.log.Warn(g.kind+" exited unexpectedly; the others keep running",
			g.kind, name, "pid", c.pid, "status", exitStatus(err), "log", logPath)
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

func (g *procs) child(name string) *child {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.children[name]
}

// PID is the pid of name's latest child, 0 if it never started.
func (g *procs) PID(name string) int {
	if c := g.child(name); c != nil {
		return c.pid
	}
	return 0
}

// Running reports whether name's latest child has not exited.
func (g *procs) Running(name string) bool {
	c := g.child(name)
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
func (g *procs) ExitStatus(name string) string {
	c := g.child(name)
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
func (g *procs) Signal(name string, sig syscall.Signal) error {
	c := g.child(name)
	if c == nil {
		return fmt.Errorf("demo: no %s %q", g.kind, name)
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("demo: signal %s (pid %d): %w", name, c.pid, err)
	}
	return nil
}

// exited reports, for each of names whose child has exited, how, with
// the end of its log: what a start that failed early says.
func (g *procs) exited(names []string) error {
	var errs []error
	for _, name := range names {
		if st := g.ExitStatus(name); st != "" && st != "not started" {
			g.mu.Lock()
			logPath := g.logPaths[name]
			g.mu.Unlock()
			errs = append(errs, fmt.Errorf("demo: %s exited during start (%s); the end of %s:\n%s",
				name, st, logPath, tail(logPath, 10)))
		}
	}
	return errors.Join(errs...)
}

// stop sends SIGTERM to the running children of names, waits up to grace
// for all to exit, then sends SIGKILL to those left and waits for them.
// After stop no child is started again. It returns an error only if a
// child could not be signalled or reaped.
func (g *procs) stop(names []string, grace time.Duration) error {
	g.mu.Lock()
	g.stopping = true
	var live []*child
	var liveNames []string
	for _, name := range names {
		if c := g.children[name]; c != nil {
			live, liveNames = append(live, c), append(liveNames, name)
		}
	}
	g.mu.Unlock()
	var errs []error
	signalAll := func(sig syscall.Signal) {
		for i, c := range live {
			select {
			case <-c.done:
				continue
			default:
			}
			if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("demo: %v to %s (pid %d): %w", sig, liveNames[i], c.pid, err))
			}
		}
	}
	signalAll(syscall.SIGTERM)
	if !waitAll(live, grace) {
		for i, c := range live {
			select {
			case <-c.done:
			default:
				g.log.Warn(g.kind+" still running after SIGTERM; killing it", g.kind, liveNames[i], "pid", c.pid, "waited", grace)
			}
		}
		signalAll(syscall.SIGKILL)
		if !waitAll(live, 10*time.Second) {
			errs = append(errs, fmt.Errorf("demo: a %s survived SIGKILL for 10s", g.kind))
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
