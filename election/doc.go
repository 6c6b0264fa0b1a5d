// Package election holds leadership on etcd: the lease, the campaign, the
// epoch (the leader key's create revision, a fencing token), self-fencing,
// pin, pause and switchover, node status records and the leadership
// history. It can also run an embedded etcd member (embed.go).
//
// Everything lives under /triad/<cluster>/ (keys.go). One goroutine, the
// Elector's loop, owns every role change. A leader's every etcd write is a
// transaction guarded by its epoch.
package election
