package sync

import (
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// MaxRecvMsgSize is the largest message a follower accepts: one entry holds
// any number of ops (a restore's repairs are one entry) and is applied
// whole, so it is sent whole. gRPC's default of 4 MiB would leave a follower
// unable ever to catch up past a large entry or retained message.
const MaxRecvMsgSize = math.MaxInt32

// DialOptions are a follower's options for its connection to the leader.
func DialOptions(creds credentials.TransportCredentials) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxRecvMsgSize)),
	}
}
