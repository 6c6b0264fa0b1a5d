package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/internal/sdnotify"
)

// statusEvery is how often the systemd status line is refreshed (it is
// sent only when it changed), and the longest pause between watchdog pings
// when the watchdog is set.
const statusEvery = time.Second

// notifySystemd tells systemd (Type=notify) that the node is up, keeps
// its STATUS= line on the node's role, and, with WatchdogSec=, pings the
// watchdog while the node is healthy, until ctx ends. Outside systemd it
// does nothing.
func (n *Node) notifySystemd(ctx context.Context, sd *sdnotify.Notifier) {
	if sd == nil {
		return
	}
	log := n.log.With("component", "systemd")
	every := statusEvery
	wd, watchdog, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("watchdog not used", "error", err)
	}
	if watchdog {
		every = min(every, wd/2)
	}
	last := n.statusLine()
	if err := sd.Send(sdnotify.Ready, sdnotify.Status(last)); err != nil {
		log.Warn("readiness not sent", "error", err)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var send []string
		if line := n.statusLine(); line != last {
			last = line
			send = append(send, sdnotify.Status(line))
		}
		if watchdog && n.healthy() {
			send = append(send, sdnotify.Watchdog)
		}
		if err := sd.Send(send...); err != nil {
			log.Debug("notification not sent", "error", err)
		}
	}
}

// statusLine is what `systemctl status` shows for the node.
func (n *Node) statusLine() string {
	switch r := n.role(); r {
	case election.RoleStandalone:
		return "standalone: serving MQTT"
	case election.RoleLeader:
		if n.isLeader() {
			return fmt.Sprintf("leader of %s (epoch %d): serving MQTT", n.cfg.Cluster.Name, n.el.Epoch())
		}
		return fmt.Sprintf("leader of %s (epoch %d): not serving yet", n.cfg.Cluster.Name, n.el.Epoch())
	case election.RoleStopping:
		return "stopping"
	default:
		leader := "no leader"
		if l, _ := n.el.LeaderReplication(); l != "" {
			leader = "leader " + l
		}
		return fmt.Sprintf("%s in %s (%s), applied index %d", r, n.cfg.Cluster.Name, leader, n.local().Applied)
	}
}

// systemdStopping tells systemd the node is stopping (it then waits for
// the exit rather than restarting it).
func systemdStopping(sd *sdnotify.Notifier, log *slog.Logger) {
	if err := sd.Send(sdnotify.Stopping, sdnotify.Status("stopping: handing over, flushing state")); err != nil {
		log.Debug("stopping notification not sent", "error", err)
	}
}
