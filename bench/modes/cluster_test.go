package main

import (
	"strings"
	"testing"
)

func fullCluster() []nodeStatus {
	return []nodeStatus{
		{Node: "n1", Role: "follower", Mode: "full"},
		{Node: "n2", Role: "leader", Mode: "full", Serving: true, Ready: true, Followers: []followerStatus{
			{Name: "n1", InSync: true, Connected: true}, {Name: "n3", InSync: true, Connected: true}}},
		{Node: "n3", Role: "follower", Mode: "full"},
	}
}

func dynsecCluster() []nodeStatus {
	return []nodeStatus{
		{Node: "n1", Role: "follower", Mode: "dynsec", Serving: true, Ready: true},
		{Node: "n2", Role: "leader", Mode: "dynsec", Serving: true, Ready: true},
		{Node: "n3", Role: "follower", Mode: "dynsec", Serving: true, Ready: true},
	}
}

func TestSettled(t *testing.T) {
	cases := []struct {
		name   string
		mode   string
		sts    func() []nodeStatus
		routes []string
		why    string // "" when settled
	}{
		{name: "full: the leader alone serves and routes", mode: "full", sts: fullCluster, routes: []string{"n2"}},
		{name: "full: haproxy not yet on the leader", mode: "full", sts: fullCluster, routes: nil, why: "haproxy sends new clients to []"},
		{name: "full: haproxy on a follower", mode: "full", sts: fullCluster, routes: []string{"n1"}, why: "n2 leads"},
		{name: "full: a follower lagging", mode: "full", routes: []string{"n2"}, sts: func() []nodeStatus {
			s := fullCluster()
			s[1].Followers[1].Lag = 3
			return s
		}, why: "follower n3: connected=true in_sync=true lag=3"},
		{name: "full: a follower out of the in-sync set", mode: "full", routes: []string{"n2"}, sts: func() []nodeStatus {
			s := fullCluster()
			s[1].Followers[0].InSync = false
			return s
		}, why: "follower n1"},
		{name: "full: one follower reported", mode: "full", routes: []string{"n2"}, sts: func() []nodeStatus {
			s := fullCluster()
			s[1].Followers = s[1].Followers[:1]
			return s
		}, why: "1 followers of 2"},
		{name: "full: no leader yet", mode: "full", routes: nil, sts: func() []nodeStatus {
			s := fullCluster()
			s[1].Serving = false
			return s
		}, why: "0 nodes serve"},
		{name: "full: a node in the other mode", mode: "full", routes: []string{"n2"}, sts: func() []nodeStatus {
			s := fullCluster()
			s[2].Mode = "dynsec"
			return s
		}, why: `n3: runs in mode "dynsec"`},
		{name: "dynsec: every node serves and routes", mode: "dynsec", sts: dynsecCluster, routes: []string{"n3", "n1", "n2"}},
		{name: "dynsec: haproxy has two nodes up", mode: "dynsec", sts: dynsecCluster, routes: []string{"n1", "n2"}, why: "not to all 3 nodes"},
		{name: "dynsec: a node not ready", mode: "dynsec", routes: []string{"n1", "n2", "n3"}, sts: func() []nodeStatus {
			s := dynsecCluster()
			s[0].Ready = false
			return s
		}, why: "n1: serving=true ready=false"},
		{name: "dynsec: a node in full mode", mode: "dynsec", routes: []string{"n1", "n2", "n3"}, sts: func() []nodeStatus {
			s := dynsecCluster()
			s[1].Mode = "full"
			return s
		}, why: `n2: runs in mode "full"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := settled(tc.mode, tc.sts(), tc.routes)
			switch {
			case tc.why == "" && err != nil:
				t.Fatalf("settled = %v; want settled", err)
			case tc.why != "" && (err == nil || !strings.Contains(err.Error(), tc.why)):
				t.Fatalf("settled = %v; want an error with %q", err, tc.why)
			}
		})
	}
}

func TestTail(t *testing.T) {
	path := t.TempDir() + "/log"
	writeFile(t, path, "a\nb\nc\nd\n")
	if got := tail(path, 2); got != "c\nd" {
		t.Errorf("tail 2 = %q", got)
	}
	if got := tail(path, 10); got != "a\nb\nc\nd" {
		t.Errorf("tail 10 = %q", got)
	}
	if got := tail(path+".missing", 2); !strings.HasPrefix(got, "(") {
		t.Errorf("tail of a missing file = %q", got)
	}
}
