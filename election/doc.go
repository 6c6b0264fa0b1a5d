// Package election will hold leadership on etcd: the lease, the campaign,
// the epoch (the leader key's create revision, used as a fencing token),
// pin and switchover, the in-sync set and the leadership history. It is
// empty until that work lands; a node runs standalone meanwhile.
package election
