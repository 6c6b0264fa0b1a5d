package main

import (
	"context"
	"fmt"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// connect opens one MQTT 3.1.1 clean-session connection with no automatic
// reconnect: a dropped connection shows up as failed publishes or missing
// messages, never as a silent retry. It gives up when ctx ends.
func connect(ctx context.Context, addr, id string) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			fmt.Fprintf(os.Stderr, "loadgen: %s: connection lost: %v\n", id, err)
		})
	c := mqtt.NewClient(opts)
	if err := wait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", id, addr, err)
	}
	return c, nil
}

// wait blocks until tok completes or ctx ends; cancellation abandons the
// token (paho completes it later on its own).
func wait(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
