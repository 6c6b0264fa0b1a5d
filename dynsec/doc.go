// Package dynsec will hold Mosquitto-compatible dynamic security: clients,
// groups, roles and ACLs, the $CONTROL/dynamic-security/v1 API, and import
// and export of Mosquitto's dynamic-security.json. Until it lands a node
// allows every client.
package dynsec
