package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Net is a small network made of Linux network namespaces: one per host,
// each joined by a veth pair to a bridge in a switch namespace of its own.
// Nothing outside these namespaces is touched, so faults are injected on a
// host's side of its link (nftables rules, a qdisc) without affecting the
// machine. Every name starts with a prefix unique to the Net, so two runs
// side by side do not meet. Net needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)
// and iproute2's ip, nft and tc.
type Net struct {
	prefix string
	subnet string // the first three octets, e.g. "10.77.0"
	sw     string // the switch namespace holding the bridge
	hosts  map[string]Host
	order  []string
	netem  bool // tc netem is available (sch_netem in the kernel)
}

// Host is one namespace of a Net and its address on the bridge.
type Host struct {
	Name  string // the Net's name for it, e.g. n1
	NS    string // the namespace, prefix-name
	IP    string
	iface string // its end of the veth pair, inside NS
}

// NewNet makes the switch namespace and one namespace per name, with
// addresses subnet.1, subnet.2, … in name order. Close removes them all.
func NewNet(prefix, subnet string, names ...string) (n *Net, err error) {
	n = &Net{prefix: prefix, subnet: subnet, sw: prefix + "-sw", hosts: map[string]Host{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	if err := ipCmd("netns", "add", n.sw); err != nil {
		return n, err
	}
	n.order = append(n.order, "") // the switch, removed by Close
	for _, c := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "br0", "type", "bridge"},
		{"link", "set", "br0", "up"},
	} {
		if err := n.inNS(n.sw, "ip", c...); err != nil {
			return n, err
		}
	}
	for i, name := range names {
		h := Host{Name: name, NS: prefix + "-" + name, IP: fmt.Sprintf("%s.%d", subnet, i+1), iface: "eth0"}
		if err := n.addHost(h, i); err != nil {
			return n, err
		}
	}
	n.netem = n.inNS(n.sw, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms") == nil
	return n, nil
}

func (n *Net) addHost(h Host, i int) error {
	if err := ipCmd("netns", "add", h.NS); err != nil {
		return err
	}
	n.hosts[h.Name] = h
	n.order = append(n.order, h.Name)
	swEnd := fmt.Sprintf("v%d", i)
	for _, step := range []struct {
		ns   string
		args []string
	}{
		{h.NS, []string{"link", "set", "lo", "up"}},
		{h.NS, []string{"link", "add", h.iface, "type", "veth", "peer", "name", swEnd, "netns", n.sw}},
		{h.NS, []string{"addr", "add", h.IP + "/24", "dev", h.iface}},
		{h.NS, []string{"link", "set", h.iface, "up"}},
		{n.sw, []string{"link", "set", swEnd, "master", "br0"}},
		{n.sw, []string{"link", "set", swEnd, "up"}},
	} {
		if err := n.inNS(step.ns, "ip", step.args...); err != nil {
			return err
		}
	}
	return nil
}

// Netem reports whether tc netem works here (delay and loss on a link);
// without it Degrade uses nftables for loss and tbf for a slow link.
func (n *Net) Netem() bool { return n.netem }

// Host returns the host called name.
func (n *Net) Host(name string) Host {
	h, ok := n.hosts[name]
	if !ok {
		panic(fmt.Sprintf("chaos: no host %q", name))
	}
	return h
}

// Close removes every namespace of the Net (their veths and rules go with
// them).
func (n *Net) Close() error {
	var errs []error
	for _, name := range n.order {
		ns := n.sw
		if name != "" {
			ns = n.hosts[name].NS
		}
		if err := ipCmd("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	n.order = nil
	return errors.Join(errs...)
}

// Command returns a command that runs argv inside host's namespace.
func (n *Net) Command(host string, argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Host(host).NS}, argv...)...)
}

// inNS runs name args in namespace ns.
func (n *Net) inNS(ns, name string, args ...string) error {
	return run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func ipCmd(args ...string) error { return run("ip", args...) }

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// ---- faults ----

// Cut drops every packet between host and each of peers, both ways, until
// Heal. Rules are added in host's namespace: its traffic with hosts not
// named is untouched.
func (n *Net) Cut(host string, peers ...string) error {
	if len(peers) == 0 {
		return nil
	}
	ips := make([]string, len(peers))
	for i, p := range peers {
		ips[i] = n.Host(p).IP
	}
	set := "{ " + strings.Join(ips, ", ") + " }"
	if err := n.table(host); err != nil {
		return err
	}
	ns := n.Host(host).NS
	for _, rule := range []string{
		"add rule inet chaos in ip saddr " + set + " drop",
		"add rule inet chaos out ip daddr " + set + " drop",
	} {
		if err := n.nft(ns, rule); err != nil {
			return err
		}
	}
	return nil
}

// Isolate cuts host from every other host of the Net but those in keep.
func (n *Net) Isolate(host string, keep ...string) error {
	var peers []string
	for _, name := range n.order {
		if name != "" && name != host && !contains(keep, name) {
			peers = append(peers, name)
		}
	}
	return n.Cut(host, peers...)
}

// Degrade makes host's link lossy (lossPct of the packets each way dropped)
// and slow: with netem, delay plus up to as much jitter; without it, the
// link's rate is capped at rateKbit by tbf instead (the kernel here may
// lack sch_netem). It returns how the link was degraded.
func (n *Net) Degrade(host string, lossPct int, delay time.Duration, rateKbit int) (string, error) {
	h := n.Host(host)
	if n.netem {
		ms := fmt.Sprintf("%dms", delay.Milliseconds())
		args := []string{"qdisc", "replace", "dev", h.iface, "root", "netem", "delay", ms, ms, "loss", fmt.Sprintf("%d%%", lossPct)}
		if err := n.inNS(h.NS, "tc", args...); err != nil {
			return "", err
		}
		return fmt.Sprintf("netem delay %s±%s loss %d%%", ms, ms, lossPct), nil
	}
	args := []string{"qdisc", "replace", "dev", h.iface, "root", "tbf", "rate", fmt.Sprintf("%dkbit", rateKbit), "burst", "16kb", "latency", "400ms"}
	if err := n.inNS(h.NS, "tc", args...); err != nil {
		return "", err
	}
	if err := n.table(host); err != nil {
		return "", err
	}
	for _, chain := range []string{"in", "out"} {
		rule := fmt.Sprintf("add rule inet chaos %s meta l4proto tcp numgen random mod 100 < %d drop", chain, lossPct)
		if err := n.nft(h.NS, rule); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("tbf rate %dkbit + nftables loss %d%% each way (no netem in this kernel)", rateKbit, lossPct), nil
}

// Heal removes every fault from host's link.
func (n *Net) Heal(host string) error {
	h := n.Host(host)
	var errs []error
	if err := n.nft(h.NS, "delete table inet chaos"); err != nil && !strings.Contains(err.Error(), "No such file") {
		errs = append(errs, err)
	}
	if err := n.inNS(h.NS, "tc", "qdisc", "del", "dev", h.iface, "root"); err != nil &&
		!strings.Contains(err.Error(), "No such file") && !strings.Contains(err.Error(), "Cannot delete qdisc with handle of zero") {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// HealAll heals every host.
func (n *Net) HealAll() error {
	var errs []error
	for _, name := range n.order {
		if name != "" {
			errs = append(errs, n.Heal(name))
		}
	}
	return errors.Join(errs...)
}

// table makes host's nftables table with its input and output chains, if
// it has none yet.
func (n *Net) table(host string) error {
	ns := n.Host(host).NS
	for _, cmd := range []string{
		"add table inet chaos",
		"add chain inet chaos in { type filter hook input priority 0; }",
		"add chain inet chaos out { type filter hook output priority 0; }",
	} {
		if err := n.nft(ns, cmd); err != nil {
			return err
		}
	}
	return nil
}

func (n *Net) nft(ns, command string) error {
	return n.inNS(ns, "nft", strings.Fields(command)...)
}

// ---- sockets in a namespace ----

// DialContext opens a TCP connection from host's namespace: the socket is
// made on a thread moved into the namespace, and stays in it whatever
// thread uses it later. The thread is moved back before it is unlocked; if
// that fails it stays locked and ends with the goroutine.
func (n *Net) DialContext(ctx context.Context, host, addr string) (net.Conn, error) {
	path := filepath.Join("/run/netns", n.Host(host).NS)
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: fmt.Errorf("chaos: %w", err)}
			return
		}
		defer back.Close()
		f, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("chaos: %w", err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("chaos: setns %s: %w", path, err)}
			return
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
