// Package e2e holds end-to-end tests: real triad processes (built once per
// test run), real MQTT clients (paho 3.1.1 and 5.0, Debian's
// mosquitto_pub/mosquitto_sub), faults such as kill -9. Everything listens
// on 127.0.0.1 only.
package e2e
