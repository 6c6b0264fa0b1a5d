package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/demo"
)

// single is the baseline: one standalone `triad run` node with the demo
// node's configuration minus its cluster section (same store, dynsec,
// limits and log level), serving MQTT directly, no replication.
type single struct {
	dir      string
	mqttAddr string
	httpAddr string
	cmd      *exec.Cmd
	done     chan struct{} // closed once the process has exited
	log      *slog.Logger
}

// startSingle writes DIR/single/triad.yaml from the demo's n1 config
// (singleConfig), starts `triad run` on it (output in DIR/single/triad.log)
// and waits until it answers GET /leader with 200.
func startSingle(ctx context.Context, l *demo.Layout, triadBin string, log *slog.Logger) (*single, error) {
	dir := filepath.Join(l.Dir, "single")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	s := &single{dir: dir, log: log, done: make(chan struct{}),
		mqttAddr: net.JoinHostPort(demo.Host, fmt.Sprint(ports[0])), httpAddr: net.JoinHostPort(demo.Host, fmt.Sprint(ports[1]))}
	cfgPath := filepath.Join(dir, "triad.yaml")
	if err := s.writeConfig(l.Nodes[0], cfgPath); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "triad.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("baseline log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	s.cmd = exec.Command(triadBin, "run", "--config", cfgPath)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("baseline: start %s: %w", triadBin, err)
	}
	go func() {
		err := s.cmd.Wait()
		log.Debug("baseline node exited", "status", err)
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	log.Info("baseline node up", "mqtt", s.mqttAddr, "pid", s.pid(), "dir", dir)
	return s, nil
}

// writeConfig writes n's demo config without its cluster section, on the
// baseline's own name, directory and ports, checked with config.Parse.
func (s *single) writeConfig(n demo.Node, path string) error {
	src, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	seed, err := os.ReadFile(n.DynsecPath)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	dynsecPath := filepath.Join(s.dir, "dynamic-security.json")
	if err := os.WriteFile(dynsecPath, seed, 0o600); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	cfg, err := singleConfig(src, s.dir, dynsecPath, s.mqttAddr, s.httpAddr)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	if _, err := config.Parse(cfg, path); err != nil {
		return fmt.Errorf("baseline: the single node config is invalid: %w", err)
	}
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	return nil
}

// singleConfig turns a demo node's triad.yaml into a standalone one:
// no cluster section, data in dir/data, dynsec file dynsecPath, one TCP
// listener on mqttAddr, HTTP on httpAddr; every other setting kept.
func singleConfig(src []byte, dir, dynsecPath, mqttAddr, httpAddr string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("decode the demo config: %w", err)
	}
	delete(doc, "cluster")
	set := func(section, key string, v any) error {
		m, ok := doc[section].(map[string]any)
		if !ok {
			return fmt.Errorf("the demo config has no %s section", section)
		}
		m[key] = v
		return nil
	}
	err := errors.Join(
		set("node", "name", "single"),
		set("node", "data_dir", filepath.Join(dir, "data")),
		set("mqtt", "listeners", []map[string]string{{"type": "tcp", "address": mqttAddr}}),
		set("http", "address", httpAddr),
		set("dynsec", "file", dynsecPath),
	)
	if err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode the single node config: %w", err)
	}
	return append([]byte("# Written by bench/scale: the demo node's config without its cluster section.\n"), out...), nil
}

// setNodeLogLevel rewrites every node's triad.yaml with log.level level
// (checked with config.Parse): -node-log debug shows, e.g., why lease
// renewals failed. Call it between demo.Plan and demo.Start.
func setNodeLogLevel(l *demo.Layout, level string) error {
	for _, n := range l.Nodes {
		src, err := os.ReadFile(n.ConfigPath)
		if err != nil {
			return fmt.Errorf("node log level: %w", err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(src, &doc); err != nil {
			return fmt.Errorf("node log level: decode %s: %w", n.ConfigPath, err)
		}
		lg, _ := doc["log"].(map[string]any)
		if lg == nil {
			lg = map[string]any{}
			doc["log"] = lg
		}
		lg["level"] = level
		out, err := yaml.Marshal(doc)
		if err != nil {
			return fmt.Errorf("node log level: encode: %w", err)
		}
		out = append([]byte("# Written by `triad demo`; log.level set by bench/scale -node-log.\n"), out...)
		if _, err := config.Parse(out, n.ConfigPath); err != nil {
			return fmt.Errorf("node log level %q: %w", level, err)
		}
		if err := os.WriteFile(n.ConfigPath, out, 0o644); err != nil {
			return fmt.Errorf("node log level: %w", err)
		}
	}
	return nil
}

// waitReady polls GET /leader until it answers 200 (a standalone node
// serving), for at most startTimeout.
func (s *single) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		code, err := httpGet(ctx, "http://"+s.httpAddr+"/leader", nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("baseline node exited during start: see %s", filepath.Join(s.dir, "triad.log"))
		case <-ctx.Done():
			return fmt.Errorf("baseline node not serving (GET /leader: %d %v): %w", code, err, ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *single) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM, and SIGKILL after stopGrace.
func (s *single) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("baseline: SIGTERM: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(stopGrace):
	}
	s.log.Warn("baseline node still running after SIGTERM; killing it", "pid", s.pid())
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("baseline: SIGKILL: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(exitTimeout):
		return errors.New("baseline: the node survived SIGKILL")
	}
}

// freePorts returns n ports on demo.Host that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close() // a probe listener: nothing to flush
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(demo.Host, "0"))
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
