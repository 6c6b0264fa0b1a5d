package dynsec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Mosquitto 2.0.11 parses a control payload with cJSON_ParseWithLength.
// That parser is laxer than encoding/json in ways a request can show, so
// ctrlParse first rewrites the payload into JSON that parseValue (the
// jsonobj.go reader) decodes the same way cJSON would:
//
//   - a leading UTF-8 byte-order mark is skipped;
//   - every byte up to 0x20 outside a string counts as white space;
//   - raw control bytes inside a string are accepted (they become \u00xx);
//   - bytes after the first complete value are ignored;
//   - an escaped UTF-16 surrogate without its partner fails the whole
//     payload, where encoding/json would quietly read U+FFFD;
//   - a raw byte that is not UTF-8 is kept by cJSON and later refused by
//     the UTF-8 validator. encoding/json would turn it into U+FFFD, a
//     valid character, so it becomes U+FDD0 instead: a non-character the
//     validator (ctrlValidUTF8) refuses just as Mosquitto refuses the raw
//     byte. Unvalidated fields (text names, passwords, correlationData)
//     therefore carry U+FDD0 where Mosquitto keeps the raw byte.
//
// Known gaps, all in payloads no JSON encoder produces: cJSON's number
// syntax is laxer ("+1", "01", ".5"), its key lookup stops at an escaped
// NUL inside a key, and it nests up to 1000 levels where jsonobj.go stops
// at maxJSONDepth (deliberate: answered as "Payload not valid JSON").

var errCtrlLoneSurrogate = errors.New("dynsec: escaped UTF-16 surrogate without its partner")

// ctrlParse decodes a control payload as cJSON would (see above).
func ctrlParse(payload []byte) (any, error) {
	norm, err := ctrlNormalize(payload)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(norm))
	d.UseNumber()
	v, err := parseValue(d, 0)
	if err != nil {
		return nil, fmt.Errorf("dynsec: control payload: %w", err)
	}
	return v, nil
}

// ctrlNormalize rewrites p as described at the top of this file.
func ctrlNormalize(p []byte) ([]byte, error) {
	p = bytes.TrimPrefix(p, []byte("\xef\xbb\xbf"))
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		c := p[i]
		if c != '"' {
			if c <= ' ' {
				c = ' '
			}
			out = append(out, c)
			i++
			continue
		}
		var err error
		out, i, err = ctrlNormalizeString(out, p, i)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ctrlNormalizeString copies the string literal starting at p[start] (a
// quote) to out and returns the index just after it.
func ctrlNormalizeString(out, p []byte, start int) ([]byte, int, error) {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	i := start + 1
	for i < len(p) && p[i] != '"' {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p) && p[i+1] == 'u':
			n, ok := ctrlUnicodeEscape(p[i:])
			if !ok {
				return nil, 0, errCtrlLoneSurrogate
			}
			out = append(out, p[i:i+n]...)
			i += n
		case c == '\\' && i+1 < len(p):
			out = append(out, c, p[i+1])
			i += 2
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, `\ufdd0`...)
			} else {
				out = append(out, p[i:i+size]...)
			}
			i += size
		}
	}
	if i < len(p) {
		out = append(out, '"')
		i++
	}
	return out, i, nil
}

// ctrlUnicodeEscape measures the \u escape at the start of p: 12 bytes
// for a surrogate pair, otherwise 6. ok is false for a surrogate without
// its partner, which cJSON refuses. A malformed escape measures 2 so that
// the decoder reports it.
func ctrlUnicodeEscape(p []byte) (n int, ok bool) {
	first, valid := ctrlHex4(p[2:])
	switch {
	case !valid:
		return 2, true
	case first >= 0xdc00 && first <= 0xdfff:
		return 0, false
	case first < 0xd800 || first > 0xdbff:
		return 6, true
	}
	if len(p) < 12 || p[6] != '\\' || p[7] != 'u' {
		return 0, false
	}
	second, valid := ctrlHex4(p[8:])
	if !valid || second < 0xdc00 || second > 0xdfff {
		return 0, false
	}
	return 12, true
}

func ctrlHex4(p []byte) (rune, bool) {
	if len(p) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p[:4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}
