package dynsec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Mosquitto reads its file and its control commands with cJSON: keys are
// looked up case-insensitively (the first match wins), numbers are
// doubles truncated to C ints, and a field of the wrong type reads as
// absent. object and the get* helpers reproduce that on top of
// encoding/json's tokenizer, keeping keys in order.

// object is a decoded JSON object with its members in document order.
type object struct {
	keys []string
	vals []any // nil, bool, float64, string, []any or *object
}

// maxJSONDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxJSONDepth = 64

// parseJSON decodes one JSON value (and nothing after it): objects as
// *object, arrays as []any, numbers as float64.
func parseJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := parseValue(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func parseValue(d *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				key, ok := k.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := parseValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				o.keys, o.vals = append(o.keys, key), append(o.vals, v)
			}
			if _, err := d.Token(); err != nil { // '}'
				return nil, err
			}
			return o, nil
		case '[':
			arr := []any{}
			for d.More() {
				v, err := parseValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := d.Token(); err != nil { // ']'
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		f, err := t.Float64()
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return f, nil
	default: // nil, bool, string
		return t, nil
	}
}

// get returns the value of the first member whose key equals key
// ASCII-case-insensitively.
func (o *object) get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for i, k := range o.keys {
		if equalFold(k, key) {
			return o.vals[i], true
		}
	}
	return nil, false
}

// getString returns a string member; ok is false when it is absent or not
// a string.
func (o *object) getString(key string) (string, bool) {
	v, _ := o.get(key)
	s, ok := v.(string)
	return s, ok
}

// getInt returns a number member truncated toward zero and saturated to
// a 32-bit int, as cJSON's valueint; def when absent or not a number.
func (o *object) getInt(key string, def int) int {
	v, _ := o.get(key)
	f, ok := v.(float64)
	if !ok {
		return def
	}
	return cInt(f)
}

// cInt converts like cJSON's valueint.
func cInt(f float64) int {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int(f) // truncates toward zero
}

// getBool returns a boolean member; def when absent or not a boolean.
func (o *object) getBool(key string, def bool) bool {
	v, _ := o.get(key)
	b, ok := v.(bool)
	if !ok {
		return def
	}
	return b
}

// getArray returns an array member; ok is false when absent or not an
// array.
func (o *object) getArray(key string) ([]any, bool) {
	v, _ := o.get(key)
	a, ok := v.([]any)
	return a, ok
}

// getObject returns an object member, or nil.
func (o *object) getObject(key string) *object {
	v, _ := o.get(key)
	obj, _ := v.(*object)
	return obj
}
