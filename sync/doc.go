// Package sync will hold the replication log: the gRPC stream from the
// leader to the followers, acknowledgements and catch-up. Its subpackage
// state is the durable state every node keeps (see state/README.md).
package sync
