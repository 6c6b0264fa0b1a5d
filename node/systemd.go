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

// notifySystemd tells systemd (Type=notify) that the node is up once it
// serves MQTT (standalone, or the cluster's leader) or follows a leader,
// keeps its STATUS= line on the node's role, and, with WatchdogSec=, pings
// the watchdog while the node is healthy, until ctx ends. Outside systemd
// it does nothing.
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
	last, ready := "", false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var send []string
		becameReady := !ready && (n.isLeader() || n.following())
		if becameReady {
			ready = true
			send = append(send, sdnotify.Ready)
			last = "" // READY=1 goes with the status line
		}
		if line := n.statusLine(); line != last {
			last = line
			send = append(send, sdnotify.Status(line))
		}
		if watchdog && !becameReady && n.healthy() {
			send = append(send, sdnotify.Watchdog)
		}
		if err := sd.Send(send...); err != nil {
			log.Debug("notification not sent", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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

// following: a healthy cluster follower in touch with etcd that knows its
// leader.
func (n *Node) following() bool {
	if !n.isReplica() || n.el.Role() != election.RoleFollower {
		return false
	}
	leader, _ := n.el.LeaderReplication()
	return leader != ""
}
