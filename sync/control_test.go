package sync

import (
	"context"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// TestLeaderControl: a control request reaches OnControl only when it is
// for this leader's cluster; without OnControl (full mode) it is refused
// as unimplemented; an error that is not a gRPC status is Unavailable.
func TestLeaderControl(t *testing.T) {
	l := NewLeader("c1", 1, nil, nil, nil, nil)
	ctx := context.Background()
	req := &pb.ControlRequest{Cluster: "c1", Node: "n2", Payload: []byte(`{}`)}
	if _, err := l.Control(ctx, req); status.Code(err) != codes.Unimplemented {
		t.Fatalf("without OnControl: %v, want Unimplemented", err)
	}
	var got *pb.ControlRequest
	l.OnControl = func(_ context.Context, r *pb.ControlRequest) (*pb.ControlResponse, error) {
		got = r
		return &pb.ControlResponse{Response: []byte(`{"responses":[]}`), Index: 7}, nil
	}
	if _, err := l.Control(ctx, &pb.ControlRequest{Cluster: "c2", Node: "n2"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("another cluster's request: %v, want PermissionDenied", err)
	}
	if got != nil {
		t.Fatal("another cluster's request reached OnControl")
	}
	resp, err := l.Control(ctx, req)
	if err != nil || resp.Index != 7 || got != req {
		t.Fatalf("Control = %v, %v; OnControl got %v", resp, err, got)
	}
	l.OnControl = func(context.Context, *pb.ControlRequest) (*pb.ControlResponse, error) {
		return nil, context.DeadlineExceeded
	}
	if _, err := l.Control(ctx, req); status.Code(err) != codes.Unavailable {
		t.Fatalf("a plain error: %v, want Unavailable", err)
	}
}

// TestBatchKicks: the kicks of a batch's dynsec changes are merged; a
// requester stays spared only if every change naming kicks spares it.
func TestBatchKicks(t *testing.T) {
	put := func(k *state.DynsecKicks) state.Op {
		return state.Op{Kind: state.OpDynsecPut, Dynsec: []byte("{}"), Kicks: k}
	}
	for _, c := range []struct {
		name    string
		entries []state.Entry
		want    *state.DynsecKicks
	}{
		{"none", []state.Entry{{Index: 1, Ops: []state.Op{put(nil)}}}, nil},
		{"merged in order, unique", []state.Entry{
			{Index: 1, Ops: []state.Op{put(&state.DynsecKicks{Usernames: []string{"a", "b"}})}},
			{Index: 2, Ops: []state.Op{{Kind: state.OpSessionDelete, ClientID: "x"}, put(&state.DynsecKicks{Usernames: []string{"b", "c"}, Anonymous: true})}},
		}, &state.DynsecKicks{Usernames: []string{"a", "b", "c"}, Anonymous: true}},
		{"the same requester spared by both", []state.Entry{
			{Index: 1, Ops: []state.Op{put(&state.DynsecKicks{Usernames: []string{"a"}, SpareNode: "n1", SpareClient: "adm"})}},
			{Index: 2, Ops: []state.Op{put(&state.DynsecKicks{Anonymous: true, SpareNode: "n1", SpareClient: "adm"})}},
		}, &state.DynsecKicks{Usernames: []string{"a"}, Anonymous: true, SpareNode: "n1", SpareClient: "adm"}},
		{"spared by one only", []state.Entry{
			{Index: 1, Ops: []state.Op{put(&state.DynsecKicks{Usernames: []string{"a"}, SpareNode: "n1", SpareClient: "adm"})}},
			{Index: 2, Ops: []state.Op{put(&state.DynsecKicks{Usernames: []string{"adm"}})}},
		}, &state.DynsecKicks{Usernames: []string{"a", "adm"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := batchKicks(c.entries); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("batchKicks = %+v, want %+v", got, c.want)
			}
		})
	}
}
