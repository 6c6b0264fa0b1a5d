package main

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/triadmq/triad/bench/internal/stamp"
)

func TestParseModes(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
		bad  bool
	}{
		{name: "the default order", in: "full,dynsec", want: []string{"full", "dynsec"}},
		{name: "one mode", in: "dynsec", want: []string{"dynsec"}},
		{name: "the order given is kept", in: "dynsec,full", want: []string{"dynsec", "full"}},
		{name: "spaces and empty items are ignored", in: " full , ,dynsec ", want: []string{"full", "dynsec"}},
		{name: "empty", in: "", bad: true},
		{name: "only commas", in: ",,", bad: true},
		{name: "unknown mode", in: "full,async", bad: true},
		{name: "a mode twice", in: "full,full", bad: true},
		{name: "case matters", in: "Full", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseModes(tc.in)
			if tc.bad {
				if !errors.Is(err, errBadModes) {
					t.Fatalf("parseModes(%q) = %v, %v; want errBadModes", tc.in, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("parseModes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// goodOptions are the defaults of parseFlags.
func goodOptions() options {
	return options{
		modes:   defaultModes,
		load:    loadConfig{clients: 30, count: 2000, inflight: 64, size: 256, timeout: 120 * time.Second, stall: 10 * time.Second},
		nodeCPU: 0.5,
		start:   60 * time.Second,
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*options)
		bad    bool
	}{
		{name: "the defaults", change: func(*options) {}},
		{name: "no CPU limit", change: func(o *options) { o.nodeCPU = 0 }},
		{name: "a budget of every core", change: func(o *options) { o.nodeCPU = 2 }},
		{name: "a budget beyond the cores", change: func(o *options) { o.nodeCPU = 2.5 }, bad: true},
		{name: "a budget too small to run", change: func(o *options) { o.nodeCPU = 0.001 }, bad: true},
		{name: "a negative budget", change: func(o *options) { o.nodeCPU = -1 }, bad: true},
		{name: "one client", change: func(o *options) { o.load.clients = 1 }},
		{name: "no client", change: func(o *options) { o.load.clients = 0 }, bad: true},
		{name: "more clients than HAProxy takes", change: func(o *options) { o.load.clients = maxClients + 1 }, bad: true},
		{name: "no message", change: func(o *options) { o.load.count = 0 }, bad: true},
		{name: "no window", change: func(o *options) { o.load.inflight = 0 }, bad: true},
		{name: "a window beyond packet identifiers", change: func(o *options) { o.load.inflight = 70000 }, bad: true},
		{name: "a payload just holding the header", change: func(o *options) { o.load.size = stamp.HeaderLen }},
		{name: "a payload shorter than the header", change: func(o *options) { o.load.size = stamp.HeaderLen - 1 }, bad: true},
		{name: "a payload too large", change: func(o *options) { o.load.size = maxSize + 1 }, bad: true},
		{name: "no timeout", change: func(o *options) { o.load.timeout = 0 }, bad: true},
		{name: "no stall bound", change: func(o *options) { o.load.stall = 0 }, bad: true},
		{name: "no start bound", change: func(o *options) { o.start = -time.Second }, bad: true},
		{name: "a base port", change: func(o *options) { o.basePort = 31000 }},
		{name: "a base port too high for the demo's 31 ports", change: func(o *options) { o.basePort = 65530 }, bad: true},
		{name: "a negative base port", change: func(o *options) { o.basePort = -1 }, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := goodOptions()
			tc.change(&o)
			err := o.validate(2)
			if (err != nil) != tc.bad {
				t.Fatalf("validate() = %v; want an error: %v", err, tc.bad)
			}
		})
	}
}

func TestParseFlagsRejectsArguments(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-clients", "3", "extra"}, &stderr); err == nil {
		t.Fatal("parseFlags accepted a stray argument")
	}
	if _, err := parseFlags([]string{"-modes", "nope"}, &stderr); !errors.Is(err, errBadModes) {
		t.Fatalf("parseFlags(-modes nope) = %v; want errBadModes", err)
	}
	if _, err := parseFlags([]string{"-clients", "0"}, &stderr); err == nil {
		t.Fatal("parseFlags accepted -clients 0")
	}
}
