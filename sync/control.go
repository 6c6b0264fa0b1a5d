package sync

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/triadmq/triad/sync/pb"
)

// ControlFunc runs a dynamic-security control request on the leader of a
// cluster.mode dynsec cluster (see Leader.OnControl).
type ControlFunc func(ctx context.Context, req *pb.ControlRequest) (*pb.ControlResponse, error)

// Control serves a node's dynamic-security control request: the node
// named in it must be the one the peer certificate names (with mTLS), so
// that a node cannot act for another. Without OnControl (cluster.mode
// full) it is refused as unimplemented.
func (l *Leader) Control(ctx context.Context, req *pb.ControlRequest) (*pb.ControlResponse, error) {
	if req.GetCluster() != l.cluster {
		return nil, status.Errorf(codes.PermissionDenied, "request for cluster %q; this leader is of cluster %q", req.GetCluster(), l.cluster)
	}
	if node, ok := certNode(ctx); ok && node != req.GetNode() {
		return nil, status.Errorf(codes.PermissionDenied, "request names node %q; its certificate is node %q's", req.GetNode(), node)
	}
	if l.OnControl == nil {
		return nil, status.Error(codes.Unimplemented, "this leader does not take control requests (cluster.mode is not dynsec)")
	}
	resp, err := l.OnControl(ctx, req)
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, status.Error(codes.Unavailable, fmt.Sprintf("control request: %v", err))
	}
	return resp, nil
}
