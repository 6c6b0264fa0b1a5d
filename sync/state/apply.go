package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// applier applies ops inside one write transaction.
type applier struct {
	tx     *bolt.Tx
	msgSeq uint64
}

func (a *applier) apply(o *Op) error {
	if err := o.Validate(); err != nil {
		return err
	}
	switch o.Kind {
	case OpSessionPut:
		return putJSON(a.tx.Bucket(bucketSessions), []byte(o.Session.ClientID), o.Session)
	case OpSessionDelete:
		return a.deleteSession(o.ClientID)
	case OpSubPut:
		return putJSON(a.tx.Bucket(bucketSubs), subKey(o.Sub.ClientID, o.Sub.Filter), o.Sub)
	case OpSubDelete:
		return a.tx.Bucket(bucketSubs).Delete(subKey(o.ClientID, o.Filter))
	case OpMsgAccept:
		if o.Msg.ID > a.msgSeq {
			a.msgSeq = o.Msg.ID
		}
		// The record leaves the routed flag to bucketRouted (Load reads it
		// from there), so that a message routed as it was accepted, or
		// installed routed from a snapshot, stores the same bytes as one
		// routed later: nodes with the same state have the same digest.
		m := *o.Msg
		m.Routed = false
		if err := putJSON(a.tx.Bucket(bucketMsgs), msgKey(m.ID), &m); err != nil {
			return err
		}
		if o.Msg.Routed { // a snapshot's message, or one routed as it was accepted
			return a.tx.Bucket(bucketRouted).Put(msgKey(o.Msg.ID), nil)
		}
		return nil
	case OpMsgRouted:
		return a.routed(o.MsgID)
	case OpDeliveryPut:
		d := o.Delivery
		if err := putJSON(a.tx.Bucket(bucketDeliv), delivKey(d.ClientID, d.MsgID), d); err != nil {
			return err
		}
		return a.tx.Bucket(bucketRefs).Put(refKey(d.MsgID, d.ClientID), nil)
	case OpDeliveryDone:
		return a.deliveryDone(o.ClientID, o.MsgID)
	case OpInboundPut:
		return putJSON(a.tx.Bucket(bucketInbound), inboundKey(o.Inbound.ClientID, o.Inbound.PacketID), o.Inbound)
	case OpInboundDelete:
		return a.tx.Bucket(bucketInbound).Delete(inboundKey(o.ClientID, o.PacketID))
	case OpRetainedPut:
		return putJSON(a.tx.Bucket(bucketRetained), []byte(o.Msg.Topic), o.Msg)
	case OpRetainedDelete:
		return a.tx.Bucket(bucketRetained).Delete([]byte(o.Topic))
	case OpDynsecPut:
		return a.tx.Bucket(bucketDynsec).Put(keyDynsec, o.Dynsec)
	}
	return fmt.Errorf("unhandled op %s", o.Kind)
}

// msgState says whether message id is stored and whether it is routed,
// without decoding it: the routed flag lives in its own bucket, so the
// hot path (routed, delivery done) never reads a payload.
func (a *applier) msgState(id uint64) (exists, routed bool) {
	k := msgKey(id)
	return has(a.tx.Bucket(bucketMsgs), k), has(a.tx.Bucket(bucketRouted), k)
}

// routed marks a message routed and forgets the deliveries that completed
// before it was; a message nobody still needs is deleted.
func (a *applier) routed(id uint64) error {
	if exists, _ := a.msgState(id); !exists {
		return nil
	}
	if err := a.tx.Bucket(bucketRouted).Put(msgKey(id), nil); err != nil {
		return err
	}
	refs, deliv := a.tx.Bucket(bucketRefs), a.tx.Bucket(bucketDeliv)
	var done [][]byte
	prefix := msgKey(id)
	c := refs.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		client, err := splitRefKey(k)
		if err != nil {
			return err
		}
		var d Delivery
		if err := getJSON(deliv, delivKey(client, id), &d); err != nil {
			return err
		}
		if d.State == DeliveryDone {
			done = append(done, bytes.Clone(k))
		}
	}
	for _, k := range done {
		client, _ := splitRefKey(k)
		if err := a.dropDelivery(client, id); err != nil {
			return err
		}
	}
	return a.gcMsg(id, true)
}

// deliveryDone records that a session finished with a message. While the
// message is unrouted the delivery stays, marked done, so that a fan-out
// replayed after a crash does not deliver it twice.
func (a *applier) deliveryDone(client string, id uint64) error {
	exists, routed := a.msgState(id)
	if exists && !routed {
		deliv := a.tx.Bucket(bucketDeliv)
		d := Delivery{ClientID: client, MsgID: id}
		if err := getJSON(deliv, delivKey(client, id), &d); err != nil {
			return err
		}
		d.State = DeliveryDone
		if err := putJSON(deliv, delivKey(client, id), &d); err != nil {
			return err
		}
		return a.tx.Bucket(bucketRefs).Put(refKey(id, client), nil)
	}
	if err := a.dropDelivery(client, id); err != nil {
		return err
	}
	return a.gcMsg(id, exists && routed)
}

func (a *applier) dropDelivery(client string, id uint64) error {
	if err := a.tx.Bucket(bucketDeliv).Delete(delivKey(client, id)); err != nil {
		return err
	}
	return a.tx.Bucket(bucketRefs).Delete(refKey(id, client))
}

// gcMsg deletes a routed message that no delivery refers to.
func (a *applier) gcMsg(id uint64, routed bool) error {
	if !routed || hasPrefix(a.tx.Bucket(bucketRefs), msgKey(id)) {
		return nil
	}
	if err := a.tx.Bucket(bucketRouted).Delete(msgKey(id)); err != nil {
		return err
	}
	return a.tx.Bucket(bucketMsgs).Delete(msgKey(id))
}

func (a *applier) deleteSession(client string) error {
	if err := a.tx.Bucket(bucketSessions).Delete([]byte(client)); err != nil {
		return err
	}
	prefix := clientPrefix(client)
	if err := deletePrefix(a.tx.Bucket(bucketSubs), prefix); err != nil {
		return err
	}
	if err := deletePrefix(a.tx.Bucket(bucketInbound), prefix); err != nil {
		return err
	}
	var ids []uint64
	c := a.tx.Bucket(bucketDeliv).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+8 {
			return fmt.Errorf("corrupt delivery key %x", k)
		}
		ids = append(ids, binary.BigEndian.Uint64(k[len(prefix):]))
	}
	for _, id := range ids {
		exists, routed := a.msgState(id)
		if err := a.dropDelivery(client, id); err != nil {
			return err
		}
		if err := a.gcMsg(id, exists && routed); err != nil {
			return err
		}
	}
	return nil
}

func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	if err := b.Put(k, data); err != nil {
		return fmt.Errorf("put %q: %w", k, err)
	}
	return nil
}

// getJSON decodes the value at k into v; a missing key leaves v unchanged.
func getJSON(b *bolt.Bucket, k []byte, v any) error {
	data := b.Get(k)
	if data == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %q: %w", k, err)
	}
	return nil
}
