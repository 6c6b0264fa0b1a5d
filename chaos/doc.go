// Package chaos is Triad's fault harness (`make chaos`, `make chaos-quick`):
// the three nodes, three etcd members, HAProxy with triad-lbagent and the
// test's clients each in a network namespace of their own (Net), joined by
// a bridge, so links can be cut, made lossy and slow without touching the
// machine; processes are killed, frozen, their disks filled and their data
// files corrupted. Every client operation is recorded (Recorder) and a
// checker in the spirit of Jepsen (Check) verifies the history: no
// acknowledged message missing at a persistent subscriber, no QoS 2
// duplicate, per-publisher order kept, no operation served by a node while
// another held leadership. The scenarios themselves are tests built with
// the tag chaos (they need root): see the Makefile.
package chaos
