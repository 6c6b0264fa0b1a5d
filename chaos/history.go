package chaos

import (
	"fmt"
	"sync"
	"time"
)

// Kind is what a client operation was.
type Kind int

const (
	Connect Kind = iota // a CONNECT and its answer
	Publish             // a PUBLISH and its acknowledgement (PUBACK, or PUBCOMP for QoS 2)
	Deliver             // a PUBLISH a subscriber received
)

func (k Kind) String() string {
	switch k {
	case Connect:
		return "connect"
	case Publish:
		return "publish"
	case Deliver:
		return "deliver"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Op is one client operation as the client saw it. A message is named by
// its Publisher and Seq (and sent on Topic); Seq grows by one per message
// of a publisher.
type Op struct {
	Index     int // order of recording, for ties
	Kind      Kind
	Client    string // the client's id
	Node      string // the node that served it; "" when unknown (through HAProxy)
	Topic     string
	Publisher string
	Seq       int
	QoS       byte
	Start     time.Time // sent (for Deliver: received)
	End       time.Time // answered, received, or given up
	OK        bool      // answered with success (Connect, Publish); always true for Deliver
	Err       string
	// PacketID and Dup are a received PUBLISH's (Deliver): a QoS 2 message
	// received again with DUP set and the same packet id is the sender's
	// redelivery of a PUBLISH whose PUBREC it did not see, which the MQTT
	// receiver suppresses (it holds the id until PUBREL; paho.mqtt.golang
	// does not, so the checker does).
	PacketID uint16 `json:",omitempty"`
	Dup      bool   `json:",omitempty"`
}

// Message names a message.
type Message struct {
	Publisher string
	Seq       int
}

func (m Message) String() string { return fmt.Sprintf("%s#%d", m.Publisher, m.Seq) }

// Recorder collects operations from many goroutines.
type Recorder struct {
	mu  sync.Mutex
	ops []Op
}

// Add records op and returns it with its Index.
func (r *Recorder) Add(op Op) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = len(r.ops)
	r.ops = append(r.ops, op)
	return op
}

// Ops returns a copy of every operation recorded so far.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Leadership is one epoch: node held the leader key from Since.
type Leadership struct {
	Epoch int64
	Node  string
	Since time.Time
}

// Window is the time a scenario ran, from the fault to the cluster's
// recovery.
type Window struct {
	Name       string
	Start, End time.Time
}
