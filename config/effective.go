package config

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"

	"gopkg.in/yaml.v3"
)

// Effective renders c as YAML, every key written out, for
// `triad check-config`. It does not apply defaults itself: a Config from
// Load or Parse already has them (call ApplyDefaults first on one built in
// code). Parsing the output gives back an equal Config.
func (c *Config) Effective() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: encode effective configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: encode effective configuration: %w", err)
	}
	return b.Bytes(), nil
}

// Logger returns a log/slog logger writing to w at log.level (debug, info,
// warn, error; anything else means info) in log.format (json, else text).
func (c *Config) Logger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch c.Log.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
