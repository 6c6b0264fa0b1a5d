// Package lbagent will hold triad-lbagent: it watches the leader key in
// etcd and drives HAProxy through its Runtime API so clients follow the
// leader. It knows only etcd and HAProxy, never the broker.
package lbagent
