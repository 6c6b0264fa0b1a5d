package dynsec

// FailedResponse is the response to a request that could not be carried
// out at all (in cluster.mode dynsec, when no leader can be reached): each
// command of payload answered with errText and its correlationData, in
// Mosquitto's response format, so that a client waiting for a command's
// answer gets one.
func FailedResponse(payload []byte, errText string, maxPayload int) []byte {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	w := &ctrlWriter{}
	w.open('{')
	w.key("responses")
	w.open('[')
	failAll(w, payload, errText, maxPayload)
	w.close(']')
	w.close('}')
	return w.buf
}

func failAll(w *ctrlWriter, payload []byte, errText string, maxPayload int) {
	commands, ok := ctrlEnvelope(w, payload, maxPayload)
	if !ok {
		return
	}
	for _, el := range commands {
		req, isObj := el.(*object)
		if !isObj {
			ctrlReply(w, "Unknown command", "Command not an object", nil)
			continue
		}
		name, ok := ctrlString(req, "command")
		if !ok {
			ctrlReply(w, "Unknown command", "Missing command", nil)
			continue
		}
		corr, bad := ctrlOptString(req, "correlationData")
		if bad {
			ctrlReply(w, name, "Invalid correlationData data type.", nil)
			return
		}
		ctrlReply(w, name, errText, corr)
	}
}
