package demo

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/triadmq/triad/dynsec"
	"github.com/triadmq/triad/internal/fsutil"
)

// The demo's dynamic security: an admin for mosquitto_ctrl, and anonymous
// clients allowed everything but the control API, so mosquitto_pub and
// mosquitto_sub work without credentials.
const (
	AdminUser         = "admin"
	adminPasswordFile = "admin-password" // in the demo directory, mode 0600
	anonymousGroup    = "anonymous"
	anonymousRole     = "demo-anonymous"
)

// writeDynsec makes the admin password (once per directory: the cluster
// keeps its hash across restarts) and seeds each node's dynsec.file when it
// has none. A node's file is not touched once it exists: the node rewrites
// it with the replicated configuration after every change.
func (l *Layout) writeDynsec() error {
	pwPath := filepath.Join(l.Dir, adminPasswordFile)
	pw, err := os.ReadFile(pwPath)
	switch {
	case err == nil:
		l.AdminPassword = strings.TrimSpace(string(pw))
	case errors.Is(err, fs.ErrNotExist):
		if l.AdminPassword, err = newPassword(); err != nil {
			return err
		}
		if err := os.MkdirAll(l.Dir, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := fsutil.WriteFile(pwPath, []byte(l.AdminPassword+"\n"), 0o600); err != nil {
			return fmt.Errorf("demo: admin password: %w", err)
		}
	default:
		return fmt.Errorf("demo: admin password: %w", err)
	}
	var seed []byte
	for _, n := range l.Nodes {
		if _, err := os.Stat(n.DynsecPath); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("demo: %w", err)
		}
		if seed == nil {
			cfg, err := demoDynsec(l.AdminPassword)
			if err != nil {
				return err
			}
			seed = cfg.MarshalFile()
		}
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := fsutil.WriteFile(n.DynsecPath, seed, 0o600); err != nil {
			return fmt.Errorf("demo: dynamic-security file: %w", err)
		}
	}
	return nil
}

// newPassword returns 20 random characters from base32's alphabet.
func newPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: admin password: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))[:20], nil
}

// demoDynsec is `mosquitto_ctrl dynsec init` with the admin password, plus
// an anonymous group whose role allows publishing, subscribing and
// receiving on everything except $CONTROL.
func demoDynsec(adminPassword string) (*dynsec.Config, error) {
	pw, err := dynsec.HashPassword(adminPassword, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cfg := dynsec.InitConfig(AdminUser, pw)
	cfg.Roles[anonymousRole] = &dynsec.Role{Name: anonymousRole, ACLs: []dynsec.ACL{
		{Type: dynsec.PublishClientSend, Topic: "$CONTROL/#", Priority: 10, Allow: false},
		{Type: dynsec.SubscribePattern, Topic: "$CONTROL/#", Priority: 10, Allow: false},
		{Type: dynsec.PublishClientSend, Topic: "#", Allow: true},
		{Type: dynsec.PublishClientReceive, Topic: "#", Allow: true},
		{Type: dynsec.SubscribePattern, Topic: "#", Allow: true},
		{Type: dynsec.UnsubscribePattern, Topic: "#", Allow: true},
	}}
	cfg.Groups[anonymousGroup] = &dynsec.Group{Name: anonymousGroup,
		Roles: []dynsec.RoleRef{{Name: anonymousRole, Priority: dynsec.NoPriority}}}
	cfg.AnonymousGroup = anonymousGroup
	return cfg, nil
}
