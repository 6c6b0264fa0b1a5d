package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a process started in a host's namespace (`ip netns exec`, which
// execs the program: the pid is the program's), its output appended to a
// log file. Start may be called again once it has exited.
type Proc struct {
	Name string
	Host string
	Log  string // the file its stdout and stderr go to
	Argv []string
	Env  []string // added to the test's environment

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts the process in n.
func (p *Proc) Start(n *Net) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("chaos: %s is running already", p.Name)
		}
	}
	out, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chaos: %s: %w", p.Name, err)
	}
	cmd := n.Command(p.Host, p.Argv...)
	cmd.Env = append(os.Environ(), p.Env...)
	// No Pdeathsig: it fires when the thread that forked the child ends,
	// not the process, and Go ends threads (a locked goroutine's) at will.
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("chaos: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Running reports whether the process was started and has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID is the running process's pid, 0 if none runs.
func (p *Proc) PID() int {
	if !p.Running() {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Signal sends sig to the running process.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("chaos: %s was never started", p.Name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("chaos: signal %s: %w", p.Name, err)
	}
	return nil
}

// Wait waits up to d for the process to exit and returns how it ended.
func (p *Proc) Wait(d time.Duration) (exited bool, err error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return true, nil
	}
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	case <-time.After(d):
		return false, nil
	}
}

// Kill sends SIGKILL (continuing a stopped process first is not needed)
// and waits for the process to be reaped.
func (p *Proc) Kill() error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if exited, _ := p.Wait(10 * time.Second); !exited {
		return fmt.Errorf("chaos: %s still running 10s after SIGKILL", p.Name)
	}
	return nil
}

// Stop sends SIGTERM (after SIGCONT, in case it is frozen), waits up to
// grace, then kills.
func (p *Proc) Stop(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if exited, _ := p.Wait(grace); exited {
		return nil
	}
	return p.Kill()
}
