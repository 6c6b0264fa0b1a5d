// Package version holds the build's version, set at link time from
// `git describe` (see the Makefile).
package version

// Version is overridden with -ldflags "-X github.com/triadmq/triad/version.Version=...".
var Version = "dev"
