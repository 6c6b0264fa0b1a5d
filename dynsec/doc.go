// Package dynsec is Mosquitto-compatible dynamic security: clients
// (usernames with PBKDF2-SHA512 passwords), groups, roles and their ACLs,
// as Mosquitto 2.0's dynamic-security plugin models them.
//
//   - model.go: the configuration (Config) and its parts; a Config is
//     immutable once published, changes are made on a Clone.
//   - file.go, init.go: Mosquitto's dynamic-security.json, read with its
//     loading rules (Load) and written byte for byte as Mosquitto writes
//     it (MarshalFile); InitConfig is `mosquitto_ctrl dynsec init`.
//   - policy.go, topic.go: authentication and ACL evaluation (Policy),
//     compiled once per configuration; Allowed does not allocate.
//   - control*.go: the $CONTROL/dynamic-security/v1 API (Controller), with
//     Mosquitto's commands, responses and error strings; Debian's
//     mosquitto_ctrl works against it.
//   - jsonobj.go: cJSON's reading rules (case-insensitive keys, C ints).
//
// The broker (broker/hook_dynsec.go) enforces a Policy and records every
// change as one replicated entry holding the whole file. Where Triad
// differs from Mosquitto 2.0.11 on purpose (atomic commands, %c/%u
// substitution, consistent role links, ...) the code says so, and
// docs/dynsec.md lists it. testdata/mosquitto holds reference data made
// with real Mosquitto 2.0.11.
package dynsec
