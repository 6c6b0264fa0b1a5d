package config

import "time"

// AuthRateLimit is mqtt.auth_rate_limit: a source address whose clients
// fail authentication Failures times within Window has its connections
// refused, without their credentials being checked, for Block. It applies
// with dynsec.enabled (without it no connection is ever refused).
type AuthRateLimit struct {
	Failures int      `yaml:"failures"` // failures within window that block a source; default 10; 0 = no limit
	Window   Duration `yaml:"window"`   // default 60s; above 0 unless failures is 0
	Block    Duration `yaml:"block"`    // default 60s; above 0 unless failures is 0
}

// Defaults of mqtt.auth_rate_limit.
const (
	DefaultAuthFailures = 10               // mqtt.auth_rate_limit.failures
	DefaultAuthWindow   = 60 * time.Second // mqtt.auth_rate_limit.window
	DefaultAuthBlock    = 60 * time.Second // mqtt.auth_rate_limit.block
)

// Enabled reports whether failed authentications are limited at all.
func (a *AuthRateLimit) Enabled() bool { return a.Failures > 0 }

func (a *AuthRateLimit) applyDefaults(given func(string) bool) {
	const p = "mqtt.auth_rate_limit"
	setDefault(&a.Failures, DefaultAuthFailures, given(p+".failures"))
	setDefault(&a.Window, Duration(DefaultAuthWindow), given(p+".window"))
	setDefault(&a.Block, Duration(DefaultAuthBlock), given(p+".block"))
}

func (a *AuthRateLimit) validate(errs *Errors) {
	const p = "mqtt.auth_rate_limit"
	if a.Failures < 0 {
		errs.Add(p+".failures", "%d is negative; use 0 to turn the limit off", a.Failures)
	}
	if !a.Enabled() {
		return // window and block are not used
	}
	if a.Window.D() <= 0 {
		errs.Add(p+".window", "%v must be above 0 (or set failures to 0 to turn the limit off)", a.Window.D())
	}
	if a.Block.D() <= 0 {
		errs.Add(p+".block", "%v must be above 0 (or set failures to 0 to turn the limit off)", a.Block.D())
	}
}
