package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/triadmq/triad/dynsec"
)

// cmdDynsecImport replaces a running broker's (or cluster's) dynamic-
// security configuration with a dynamic-security.json, through the
// control API as an admin: the change is replicated and confirmed like any
// mosquitto_ctrl command.
func cmdDynsecImport(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("triad dynsec import", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("mqtt", "", "host:port of the broker (the cluster's HAProxy address, or the leader's)")
	user := flags.String("username", "admin", "an admin of the current configuration")
	pwFile := flags.String("password-file", "", "file whose first line is the admin's password (default: stdin)")
	caFile := flags.String("cafile", "", "CA certificate: connect with TLS, verifying the broker against it")
	timeout := flags.Duration("timeout", 10*time.Second, "how long to wait for the broker's answer")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *addr == "" || flags.NArg() != 1 {
		fmt.Fprintf(stderr, "triad dynsec import: want --mqtt HOST:PORT and one FILE\n%s", dynsecUsage)
		return 2
	}
	path := flags.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec import: %v\n", err)
		return 1
	}
	if _, _, err := dynsec.Load(data); err != nil { // the broker lists what it ignores
		fmt.Fprintf(stderr, "triad dynsec import: %s: %v\n", path, err)
		return 1
	}
	pw, err := readPassword(*pwFile, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec import: %v\n", err)
		return 1
	}
	answer, err := importThroughControlAPI(*addr, *caFile, *user, pw, data, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec import: %v\n", err)
		return 1
	}
	if answer.Error != "" {
		fmt.Fprintf(stderr, "triad dynsec import: the broker refused %s: %s\n", path, answer.Error)
		return 1
	}
	fmt.Fprintf(stdout, "imported %s: %d clients, %d groups, %d roles; every other connected client was disconnected\n",
		path, answer.Data.Clients, answer.Data.Groups, answer.Data.Roles)
	for _, p := range answer.Data.Ignored {
		fmt.Fprintf(stdout, "ignored: %s\n", p)
	}
	return 0
}

// importAnswer is the broker's response to importConfig.
type importAnswer struct {
	Command string `json:"command"`
	Error   string `json:"error"`
	Data    struct {
		Clients, Groups, Roles int
		Ignored                []string
	} `json:"data"`
}

// importThroughControlAPI connects as user, sends importConfig and waits
// for its answer, which arrives only once the change is durable.
func importThroughControlAPI(addr, caFile, user, pw string, file []byte, timeout time.Duration) (importAnswer, error) {
	var answer importAnswer
	req, err := json.Marshal(map[string]any{"commands": []any{
		map[string]string{"command": dynsec.ImportCommand, "file": string(file)}}})
	if err != nil {
		return answer, fmt.Errorf("encode the request: %w", err)
	}
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return answer, fmt.Errorf("client id: %w", err)
	}
	opts := mqtt.NewClientOptions().SetClientID("triad-dynsec-import-" + hex.EncodeToString(id)).
		SetUsername(user).SetPassword(pw).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(timeout)
	if caFile == "" {
		opts.AddBroker("tcp://" + addr)
	} else {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return answer, fmt.Errorf("CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return answer, fmt.Errorf("CA %s: no PEM certificate in it", caFile)
		}
		opts.AddBroker("ssl://" + addr).SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	c := mqtt.NewClient(opts)
	if err := await(c.Connect(), timeout); err != nil {
		return answer, fmt.Errorf("connect to %s as %q: %w", addr, user, err)
	}
	defer c.Disconnect(250)
	got := make(chan []byte, 1)
	sub := c.Subscribe(dynsec.ResponseTopic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	if err := await(sub, timeout); err != nil {
		return answer, fmt.Errorf("subscribe to %s: %w", dynsec.ResponseTopic, err)
	}
	if st, ok := sub.(*mqtt.SubscribeToken); ok && st.Result()[dynsec.ResponseTopic] >= 0x80 {
		return answer, fmt.Errorf("%q may not read %s: not an admin", user, dynsec.ResponseTopic)
	}
	if err := await(c.Publish(dynsec.ControlTopic, 1, false, req), timeout); err != nil {
		return answer, fmt.Errorf("send the request: %w", err)
	}
	select {
	case payload := <-got:
		var resp struct{ Responses []importAnswer }
		if err := json.Unmarshal(payload, &resp); err != nil || len(resp.Responses) != 1 {
			return answer, fmt.Errorf("unexpected answer %q", payload)
		}
		return resp.Responses[0], nil
	case <-time.After(timeout):
		return answer, fmt.Errorf("no answer within %v (is %q allowed to publish to %s?)", timeout, user, dynsec.ControlTopic)
	}
}

// await waits for tok for at most d.
func await(tok mqtt.Token, d time.Duration) error {
	if !tok.WaitTimeout(d) {
		return errors.New("timed out")
	}
	return tok.Error()
}
