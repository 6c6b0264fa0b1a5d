package dynsec

import "strings"

// Topic tests for ACL evaluation (spec §4.1). Mosquitto uses two different
// tests, and so do we:
//
//   - publishClientSend and publishClientReceive match a topic name against
//     the ACL's filter with ordinary MQTT matching (mosquitto_topic_matches_sub).
//   - subscribePattern and unsubscribePattern ask whether the requested
//     subscription filter is covered by the ACL's filter (sub_acl_check in
//     the 2.0.11 plugin), which is a level-by-level comparison of two
//     filters with no special meaning for '$'.
//
// Neither allocates: a filter is compiled once when the Policy is built,
// and a topic is cut into levels by recording indexes, on the stack.
//
// One deliberate difference from 2.0.11: a level that is exactly "%c" or
// "%u" in these pattern ACLs stands for the checked client's client id or
// username, as in Mosquitto 2.1 (2.0.11 compares them as literal text).
// The literal ACL types (subscribeLiteral, unsubscribeLiteral) never
// substitute. A client id or username that is empty, or that contains
// '+', '#' or '/', could widen or shift the filter it is put into, so a
// level that would take it never matches; "%c" inside a longer level
// ("a%c") is plain text.

// The topic levels that are replaced by the client's own identity.
const (
	clientIDLevel = "%c"
	usernameLevel = "%u"
)

// levelEnd returns the index of the '/' ending the level that starts at
// start, or len(s) for the last level.
func levelEnd(s string, start int) int {
	if i := strings.IndexByte(s[start:], '/'); i >= 0 {
		return start + i
	}
	return len(s)
}

// hasSubstLevel reports whether some level of filter is exactly %c or %u.
func hasSubstLevel(filter string) bool {
	for start := 0; ; {
		end := levelEnd(filter, start)
		if l := filter[start:end]; l == clientIDLevel || l == usernameLevel {
			return true
		}
		if end == len(filter) {
			return false
		}
		start = end + 1
	}
}

// pubFilterValid reports whether filter is a valid MQTT topic filter:
// non-empty, '+' and '#' only as whole levels, '#' only as the last level.
// Mosquitto's matcher never reports a match for an invalid filter, and
// dynsec stores ACL topics without validating them, so this is decided
// once when a Policy is built.
func pubFilterValid(filter string) bool {
	if filter == "" {
		return false
	}
	for start := 0; ; {
		end := levelEnd(filter, start)
		l := filter[start:end]
		if l != "+" && l != "#" && strings.ContainsAny(l, "+#") {
			return false
		}
		if l == "#" && end != len(filter) {
			return false
		}
		if end == len(filter) {
			return true
		}
		start = end + 1
	}
}

// pubTopicValid reports whether topic can be matched at all: Mosquitto's
// matcher refuses an empty topic or one holding a wildcard, and such a
// topic then matches no ACL.
func pubTopicValid(topic string) bool {
	return topic != "" && strings.IndexByte(topic, '+') < 0 && strings.IndexByte(topic, '#') < 0
}

// substSafe reports whether v may stand in for a %c or %u level: a value
// with a separator or wildcard would change the shape of the filter, and
// an empty one would match an empty level that the client did not name.
func substSafe(v string) bool {
	return v != "" && strings.IndexByte(v, '/') < 0 && strings.IndexByte(v, '+') < 0 &&
		strings.IndexByte(v, '#') < 0
}

// levelKind says how an ACL filter level is matched.
type levelKind uint8

const (
	levelText     levelKind = iota // equal text
	levelPlus                      // any one level
	levelClientID                  // the client's own client id (%c)
	levelUsername                  // the client's own username (%u)
)

// kindOf classifies a level of a pattern ACL's filter (the literal ACL
// types never get here). A '#' is the callers' business.
func kindOf(level string) levelKind {
	switch level {
	case "+":
		return levelPlus
	case clientIDLevel:
		return levelClientID
	case usernameLevel:
		return levelUsername
	}
	return levelText
}

// identityMatches reports whether l is the client's own client id (for
// levelClientID) or username (levelUsername), and that value is safe to
// substitute. An anonymous client has no username.
func identityMatches(kind levelKind, l string, id *Identity) bool {
	v := id.ClientID
	if kind == levelUsername {
		if !id.HasUsername {
			return false
		}
		v = id.Username
	}
	return l == v && substSafe(v)
}

// levelMatches reports whether the ACL filter level acl accepts the level
// l.
func levelMatches(acl, l string, id *Identity) bool {
	switch k := kindOf(acl); k {
	case levelPlus:
		return true
	case levelText:
		return acl == l
	default:
		return identityMatches(k, l, id)
	}
}

// levelCheck is one level of a compiled publish filter that needs
// comparing: text, %c or %u at level index ("+" needs none).
type levelCheck struct {
	index int
	text  string
	kind  levelKind
}

// pubFilter is a compiled publishClientSend or publishClientReceive ACL.
// Only valid filters are compiled: an invalid one can never match.
type pubFilter struct {
	filter string
	allow  bool
	exact  bool // no wildcard and no substitution: matching is string equality
	dollar bool // the filter starts with '$'
	hash   bool // the filter ends with '#'
	levels int  // levels before any final '#'
	// prefix is the filter's levels before its first wildcard or
	// substitution level (prefixLevels of them), without the '/' after.
	// A matching topic starts with exactly these levels, which rejects
	// most topics with one comparison.
	prefix       string
	prefixLevels int
	// checks are the levels after the prefix that are not "+", text
	// before %c and %u since text rejects more cheaply; "+" accepts any
	// level, so it needs no check once the level count is right.
	checks []levelCheck
}

func newPubFilter(a ACL) (pubFilter, bool) {
	if !pubFilterValid(a.Topic) {
		return pubFilter{}, false
	}
	f := pubFilter{filter: a.Topic, allow: a.Allow, dollar: a.Topic[0] == '$', prefixLevels: -1}
	var subst []levelCheck
	for start, i := 0, 0; ; i++ {
		end := levelEnd(a.Topic, start)
		text := a.Topic[start:end]
		kind := kindOf(text)
		f.hash = text == "#" // valid filters have '#' last only
		if f.prefixLevels < 0 && (f.hash || kind != levelText) {
			f.prefixLevels, f.prefix = i, a.Topic[:max(start-1, 0)]
		}
		if !f.hash {
			f.levels++
			switch {
			case kind == levelClientID || kind == levelUsername:
				subst = append(subst, levelCheck{index: i, text: text, kind: kind})
			case kind == levelText && f.prefixLevels >= 0:
				f.checks = append(f.checks, levelCheck{index: i, text: text, kind: kind})
			}
		}
		if end == len(a.Topic) {
			break
		}
		start = end + 1
	}
	f.exact = f.prefixLevels < 0
	f.checks = append(f.checks, subst...)
	return f, true
}

// maxSplitLevels bounds the levels splitTopic records on the stack; a
// deeper topic is matched by scanning (matchScan) instead.
const maxSplitLevels = 32

// splitTopic holds the level boundaries of a topic, found once per check
// and shared by every filter tried.
type splitTopic struct {
	topic string
	n     int // levels; 0 when the topic has more than maxSplitLevels
	ends  [maxSplitLevels]int32
}

// split records topic's levels and reports whether it had few enough.
func (t *splitTopic) split(topic string) bool {
	t.topic, t.n = topic, 0
	for start, n := 0, 0; n < maxSplitLevels; n++ {
		end := levelEnd(topic, start)
		t.ends[n] = int32(end)
		if end == len(topic) {
			t.n = n + 1
			return true
		}
		start = end + 1
	}
	return false
}

func (t *splitTopic) level(i int) string {
	start := 0
	if i > 0 {
		start = int(t.ends[i-1]) + 1
	}
	return t.topic[start:t.ends[i]]
}

// matches reports whether t's topic, which must satisfy pubTopicValid,
// matches f under MQTT rules: '+' is one level, a final '#' is any number
// of levels including none ("a/#" matches "a"), and a topic starting with
// '$' is matched only by a filter starting with '$' [MQTT-4.7.2-1]. t.n
// is 0 for a topic too deep to split, which is then scanned.
func (f *pubFilter) matches(t *splitTopic, id *Identity) bool {
	topic := t.topic
	if f.exact {
		return f.filter == topic
	}
	if t.n == 0 {
		return f.dollar == (topic[0] == '$') && strings.HasPrefix(topic, f.prefix) && f.matchScan(topic, id)
	}
	// The level count rejects most filters with two comparisons.
	if t.n < f.levels || (t.n > f.levels && !f.hash) {
		return false
	}
	if f.dollar != (topic[0] == '$') || !strings.HasPrefix(topic, f.prefix) {
		return false
	}
	// The topic starts with the prefix text; its levels end where the
	// prefix's do only if the next byte is the separator.
	if f.prefixLevels > 0 && int(t.ends[f.prefixLevels-1]) != len(f.prefix) {
		return false
	}
	for i := range f.checks {
		if !f.checks[i].matches(t.level(f.checks[i].index), id) {
			return false
		}
	}
	return true
}

func (c *levelCheck) matches(l string, id *Identity) bool {
	if c.kind == levelText {
		return c.text == l
	}
	return identityMatches(c.kind, l, id)
}

// matchScan is matches for a topic of any depth, walking filter and topic
// level by level without splitting either first.
func (f *pubFilter) matchScan(topic string, id *Identity) bool {
	filter := f.filter
	fi, ti := 0, 0
	topicLeft := true
	for {
		fe := levelEnd(filter, fi)
		fl := filter[fi:fe]
		if fl == "#" {
			return true
		}
		if !topicLeft {
			return false
		}
		te := levelEnd(topic, ti)
		if !levelMatches(fl, topic[ti:te], id) {
			return false
		}
		if fe == len(filter) {
			return te == len(topic)
		}
		fi = fe + 1
		if te == len(topic) {
			topicLeft = false
		} else {
			ti = te + 1
		}
	}
}

// splitTrailingHash removes a final "/#", or a lone "#", from a filter and
// reports whether it did.
func splitTrailingHash(s string) (body string, hash bool) {
	if s == "#" {
		return "", true
	}
	if strings.HasSuffix(s, "/#") {
		return s[:len(s)-2], true
	}
	return s, false
}

// subFilter is a requested subscription filter prepared once per check
// for the coverage test against each pattern ACL.
type subFilter struct {
	body   string // the filter without its trailing "/#" or "#"
	hash   bool
	levels int // levels of body; "" is one empty level
}

func newSubFilter(s string) subFilter {
	body, hash := splitTrailingHash(s)
	return subFilter{body: body, hash: hash, levels: strings.Count(body, "/") + 1}
}

// subPattern is a compiled subscribePattern or unsubscribePattern ACL.
type subPattern struct {
	all    bool // the pattern is exactly "#"
	body   string
	hash   bool
	levels int
	plain  bool // no "+" and no substitution level: levels compare as text
	allow  bool
}

func newSubPattern(a ACL) subPattern {
	p := subPattern{all: a.Topic == "#", allow: a.Allow}
	p.body, p.hash = splitTrailingHash(a.Topic)
	p.levels = strings.Count(p.body, "/") + 1
	p.plain = !hasSubstLevel(p.body) && !hasPlusLevel(p.body)
	return p
}

// hasPlusLevel reports whether some level of s is exactly "+".
func hasPlusLevel(s string) bool {
	for start := 0; ; {
		end := levelEnd(s, start)
		if s[start:end] == "+" {
			return true
		}
		if end == len(s) {
			return false
		}
		start = end + 1
	}
}

// covers reports whether the subscription filter s is covered by p, as
// spec §4.1 describes Mosquitto 2.0.11's test:
//
//   - "#" covers everything, '$' topics and "#" itself included;
//   - a filter ending in '#' is covered only by a pattern ending in '#';
//   - with the trailing '#' removed, p may not have more levels than s,
//     and s may have more levels than p only if p ended in '#';
//   - each level of p must be "+" or equal the level of s ("+" in s is
//     covered only by "+" in p or by p's '#'). '$' is not special.
//
// Stored patterns are not validated: an odd one is compared as text.
func (p *subPattern) covers(s *subFilter, id *Identity) bool {
	if p.all {
		return true
	}
	if s.hash && !p.hash {
		return false
	}
	if p.levels > s.levels || (s.levels > p.levels && !p.hash) {
		return false
	}
	if p.plain {
		if p.levels == s.levels {
			return p.body == s.body
		}
		return strings.HasPrefix(s.body, p.body) && s.body[len(p.body)] == '/'
	}
	pi, si := 0, 0
	for range p.levels {
		pe, se := levelEnd(p.body, pi), levelEnd(s.body, si)
		if !levelMatches(p.body[pi:pe], s.body[si:se], id) {
			return false
		}
		pi, si = pe+1, se+1
	}
	return true
}
