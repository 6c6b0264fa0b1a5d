package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"slices"
)

// ClientCertRequired reports whether clients must present a certificate
// signed by client_ca: require_client_cert if set, else whether client_ca is
// set.
func (t *TLSConfig) ClientCertRequired() bool {
	if t.RequireClientCert != nil {
		return *t.RequireClientCert
	}
	return t.ClientCA != ""
}

// tls12CipherSuites are the TLS 1.2 cipher suites a listener accepts:
// forward-secret (ECDHE) key exchange with an AEAD cipher only, as in
// Mozilla's "intermediate" profile. Go's defaults would also take ECDHE
// with AES-CBC-SHA1 and, with a GODEBUG setting, RSA key exchange and
// 3DES; listing the suites keeps those out whatever the environment says.
// TLS 1.3 suites are not configurable and all are safe.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig loads the PEM files named by t and returns the server side
// *tls.Config of the listener: its certificate, minimum version (TLS 1.2
// unless min_version says 1.3), cipher suites (tls12CipherSuites) and,
// with client_ca, client certificate verification. Its errors are *Error
// values whose paths start with "tls.".
func (t *TLSConfig) ServerConfig() (*tls.Config, error) {
	var errs Errors
	cfg := t.check(&errs, "tls")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// check validates t, reporting problems under path (e.g.
// "mqtt.listeners[0].tls"), and returns the resulting *tls.Config, or nil
// if there were problems.
func (t *TLSConfig) check(errs *Errors, path string) *tls.Config {
	before := len(*errs)
	cfg := &tls.Config{ClientAuth: tls.NoClientCert, CipherSuites: slices.Clone(tls12CipherSuites)}
	switch t.MinVersion {
	case "1.2":
		cfg.MinVersion = tls.VersionTLS12
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		checkEnum(errs, path+".min_version", t.MinVersion, tlsVersions)
	}
	certPEM := readPEM(errs, path+".cert", t.Cert)
	keyPEM := readPEM(errs, path+".key", t.Key)
	if certPEM != nil && keyPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			errs.AddCause(path+".cert", err, "cert %q and key %q do not load as a key pair", t.Cert, t.Key)
		} else {
			cfg.Certificates = []tls.Certificate{pair}
		}
	}
	switch {
	case t.ClientCA != "":
		if caPEM := readPEM(errs, path+".client_ca", t.ClientCA); caPEM != nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(caPEM) {
				errs.Add(path+".client_ca", "%q holds no PEM certificate", t.ClientCA)
			}
			cfg.ClientCAs = pool
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if t.ClientCertRequired() {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	case t.RequireClientCert != nil && *t.RequireClientCert:
		errs.Add(path+".require_client_cert", "true needs client_ca: client certificates are verified against that CA")
	}
	if len(*errs) > before {
		return nil
	}
	return cfg
}

// readPEM reads the file named at path, reporting a missing name or an
// unreadable file; it returns nil on failure.
func readPEM(errs *Errors, path, file string) []byte {
	if file == "" {
		errs.Add(path, "missing: the path of a PEM file is required")
		return nil
	}
	data, err := readFileBounded(file, maxPEMFile)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the file name is already in the message
		}
		errs.AddCause(path, err, "%q cannot be read", file)
		return nil
	}
	return data
}
