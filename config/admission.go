package config

// Admission is mqtt.admission: how many new connections a serving node
// works on at once, from their first bytes until their CONNACK is written,
// and how many it admits per second. The rest wait their turn (the
// broker's admission.go): after a failover every client reconnects to the
// new leader at once, and without a bound their CONNECTs would starve the
// node's own lease renewals of CPU.
type Admission struct {
	MaxConcurrentConnects int `yaml:"max_concurrent_connects"` // default 64; 0 = no limit
	MaxConnectRate        int `yaml:"max_connect_rate"`        // connections admitted per second; default 0 = no limit
}

// DefaultMaxConcurrentConnects is mqtt.admission.max_concurrent_connects.
const DefaultMaxConcurrentConnects = 64

func (a *Admission) applyDefaults(given func(string) bool) {
	setDefault(&a.MaxConcurrentConnects, DefaultMaxConcurrentConnects, given("mqtt.admission.max_concurrent_connects"))
}

func (a *Admission) validate(errs *Errors) {
	const p = "mqtt.admission"
	if a.MaxConcurrentConnects < 0 {
		errs.Add(p+".max_concurrent_connects", "%d is negative; use 0 for no limit", a.MaxConcurrentConnects)
	}
	if a.MaxConnectRate < 0 {
		errs.Add(p+".max_connect_rate", "%d is negative; use 0 for no limit", a.MaxConnectRate)
	}
}
