package dynsec

import "strconv"

// ctrlWriter builds the compact JSON of a control response with keys in
// exactly the order they are written, as Mosquitto's cJSON tree prints
// them. encoding/json cannot be used for the strings: it escapes U+2028
// and U+2029 (and, by default, <, > and &), which cJSON writes raw.
type ctrlWriter struct {
	buf      []byte
	nonEmpty []bool // one per open object or array: has it a member yet?
	afterKey bool   // the next value belongs to the key just written
}

// beginValue writes the comma that separates a value (or a key) from the
// previous member of the enclosing object or array.
func (w *ctrlWriter) beginValue() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if n := len(w.nonEmpty); n > 0 {
		if w.nonEmpty[n-1] {
			w.buf = append(w.buf, ',')
		}
		w.nonEmpty[n-1] = true
	}
}

func (w *ctrlWriter) open(delim byte) {
	w.beginValue()
	w.buf = append(w.buf, delim)
	w.nonEmpty = append(w.nonEmpty, false)
}

func (w *ctrlWriter) close(delim byte) {
	w.nonEmpty = w.nonEmpty[:len(w.nonEmpty)-1]
	w.buf = append(w.buf, delim)
}

func (w *ctrlWriter) key(k string) {
	w.beginValue()
	w.buf = ctrlAppendString(w.buf, k)
	w.buf = append(w.buf, ':')
	w.afterKey = true
}

func (w *ctrlWriter) str(s string) {
	w.beginValue()
	w.buf = ctrlAppendString(w.buf, s)
}

func (w *ctrlWriter) num(n int) {
	w.beginValue()
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
}

func (w *ctrlWriter) boolean(b bool) {
	w.beginValue()
	w.buf = strconv.AppendBool(w.buf, b)
}

func (w *ctrlWriter) fieldStr(k, v string) { w.key(k); w.str(v) }
func (w *ctrlWriter) fieldNum(k string, v int) {
	w.key(k)
	w.num(v)
}
func (w *ctrlWriter) fieldBool(k string, v bool) { w.key(k); w.boolean(v) }

// ctrlAppendString appends s as a JSON string escaped the way cJSON's
// printer does it: only the quote, the backslash and bytes below 0x20
// are escaped (\b \f \n \r \t by name, the rest as \u00xx); every other
// byte, non-ASCII included, is written as it is.
func ctrlAppendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			if c < 0x20 {
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				buf = append(buf, c)
			}
		}
	}
	return append(buf, '"')
}
