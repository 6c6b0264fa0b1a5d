package dynsec

import (
	"strings"
	"testing"
)

// topicTestID is the identity the substitution rows check against.
var topicTestID = Identity{Username: "alice", HasUsername: true, ClientID: "alice-device"}

// pubMatches compiles filter as an allowing ACL and matches topic the way
// Allowed does: an invalid filter or topic never matches. It tries both
// the split-topic path and the scanning path used for very deep topics,
// and fails the test if they disagree.
func pubMatches(t *testing.T, filter, topic string, id Identity) bool {
	t.Helper()
	f, ok := newPubFilter(ACL{Type: PublishClientSend, Topic: filter, Allow: true})
	if !ok || !pubTopicValid(topic) {
		return false
	}
	var split, deep splitTopic
	if !split.split(topic) {
		t.Fatalf("topic %q too deep to split", topic)
	}
	deep.topic = topic // n == 0: matched by scanning
	got, scanned := f.matches(&split, &id), f.matches(&deep, &id)
	if got != scanned {
		t.Errorf("match(%q, %q): split %v, scan %v", filter, topic, got, scanned)
	}
	return got
}

func TestTopicPubFilterValid(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{"a", true},
		{"a/b/c", true},
		{"+", true},
		{"#", true},
		{"a/+/c", true},
		{"a/#", true},
		{"+/+/#", true},
		{"/", true},
		{"a//b", true},
		{"$SYS/#", true},
		{"%c/%u", true},
		{"", false},
		{"a+", false},
		{"a/+b", false},
		{"a/b#", false},
		{"#/a", false},
		{"a/#/b", false},
		{"a/##", false},
		{"++", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			if got := pubFilterValid(tt.filter); got != tt.want {
				t.Errorf("pubFilterValid(%q) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestTopicMatches(t *testing.T) {
	tests := []struct {
		name          string
		filter, topic string
		want          bool
	}{
		{"exact", "a/b", "a/b", true},
		{"exact differs", "a/b", "a/c", false},
		{"exact shorter topic", "a/b", "a", false},
		{"exact longer topic", "a/b", "a/b/c", false},
		{"exact trailing slash", "a/b", "a/b/", false},
		{"case sensitive", "a/B", "a/b", false},
		{"plus one level", "a/+/c", "a/b/c", true},
		{"plus empty level", "a/+", "a/", true},
		{"plus missing level", "a/+", "a", false},
		{"plus not two levels", "a/+", "a/b/c", false},
		{"plus first", "+/b", "x/b", true},
		{"plus first, text differs", "+/b", "x/c", false},
		{"plus inside, text differs", "a/+/c/d", "a/b/c/e", false},
		{"plus first, text differs deep", "+/r1/alarm/#", "site/r1/alarm2/x", false},
		{"plus first empty level", "+/b", "/b", true},
		{"plus only", "+", "a", true},
		{"plus only two levels", "+", "a/b", false},
		{"plus plus slash", "+/+", "/", true},
		{"hash all", "#", "a/b/c", true},
		{"hash one level", "#", "a", true},
		{"hash slash", "#", "/", true},
		{"hash matches parent", "a/#", "a", true},
		{"hash matches empty child", "a/#", "a/", true},
		{"hash matches deep", "a/#", "a/b/c", true},
		{"hash needs prefix level", "a/#", "ab", false},
		{"hash other branch", "a/#", "b/a", false},
		{"plus hash parent", "a/+/#", "a/b", true},
		{"plus hash first", "+/#", "a", true},
		{"plus hash too short", "a/+/#", "a", false},
		{"wildcard first vs $", "#", "$SYS/x", false},
		{"plus first vs $", "+/x", "$SYS/x", false},
		{"plus first vs $ control", "+/dynamic-security/v1", "$CONTROL/dynamic-security/v1", false},
		{"dollar filter", "$SYS/#", "$SYS/broker/uptime", true},
		{"dollar filter parent", "$SYS/#", "$SYS", true},
		{"dollar exact", "$CONTROL/dynamic-security/v1", "$CONTROL/dynamic-security/v1", true},
		{"dollar plus later", "$SYS/+/x", "$SYS/a/x", true},
		{"dollar filter vs plain topic", "$SYS/#", "SYS/x", false},
		{"dollar not first level", "a/#", "a/$b", true},
		{"empty levels exact", "a//b", "a//b", true},
		{"empty level vs plus", "a/+/b", "a//b", true},
		{"invalid filter hash inside", "a/#/c", "a/b/c", false},
		{"invalid filter plus in level", "a/b+", "a/b+", false},
		{"invalid filter hash in level", "a/b#", "a/b", false},
		{"empty filter", "", "a", false},
		{"empty topic", "#", "", false},
		{"topic with plus", "#", "a/+", false},
		{"topic with hash", "a/#", "a/#", false},
		{"exact topic with plus", "a/+", "a/+", false},
		{"2.0.11 literal %c is a substitution now", "sensors/%c/#", "sensors/%c/t", false},
		{"%c", "sensors/%c/#", "sensors/alice-device/t", true},
		{"%c parent", "sensors/%c/#", "sensors/alice-device", true},
		{"%c other id", "sensors/%c/#", "sensors/bob-device/t", false},
		{"%c not username", "sensors/%c/#", "sensors/alice/t", false},
		{"%c needs the level", "sensors/%c/#", "sensors", false},
		{"%u", "users/%u", "users/alice", true},
		{"%u not client id", "users/%u", "users/alice-device", false},
		{"%u prefix of level", "users/%u", "users/alicex", false},
		{"%u shorter level", "users/%u", "users/alic", false},
		{"%u and %c", "%u/%c", "alice/alice-device", true},
		{"%u and %c swapped", "%u/%c", "alice-device/alice", false},
		{"%u first level", "%u/x", "alice/x", true},
		{"partial level is text", "a/x%c", "a/x%c", true},
		{"partial level not substituted", "a/x%c", "a/xalice-device", false},
		{"%C is text", "a/%C", "a/%C", true},
		{"%cc is text", "a/%cc", "a/%cc", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pubMatches(t, tt.filter, tt.topic, topicTestID); got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

// TestTopicSubstitutionUnsafe checks that a username or client id that is
// empty, or holds '+', '#' or '/', never stands in for %u or %c, even
// where the topic spells it out.
func TestTopicSubstitutionUnsafe(t *testing.T) {
	tests := []struct {
		name          string
		id            Identity
		filter, topic string
		want          bool
	}{
		{"safe client id", Identity{ClientID: "c1"}, "d/%c/t", "d/c1/t", true},
		{"empty client id", Identity{ClientID: ""}, "d/%c/t", "d//t", false},
		{"client id with slash", Identity{ClientID: "a/b"}, "d/%c/t", "d/a/b/t", false},
		{"client id with slash, first part", Identity{ClientID: "a/b"}, "d/%c/#", "d/a/b", false},
		{"client id hash", Identity{ClientID: "#"}, "d/%c", "d/x", false},
		{"client id plus", Identity{ClientID: "+"}, "d/%c", "d/x", false},
		{"safe username", Identity{Username: "u1", HasUsername: true}, "d/%u/t", "d/u1/t", true},
		{"anonymous has no username", Identity{Username: "u1"}, "d/%u/t", "d/u1/t", false},
		{"empty username", Identity{Username: "", HasUsername: true}, "d/%u/t", "d//t", false},
		{"username with slash", Identity{Username: "a/b", HasUsername: true}, "d/%u/t", "d/a/b/t", false},
		{"username with plus", Identity{Username: "a+", HasUsername: true}, "d/%u/#", "d/x/t", false},
		{"username hash", Identity{Username: "#", HasUsername: true}, "d/%u/#", "d/x/t", false},
		{"unsafe username spares %c", Identity{Username: "#", HasUsername: true, ClientID: "c1"}, "d/%c", "d/c1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pubMatches(t, tt.filter, tt.topic, tt.id); got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func TestTopicCovers(t *testing.T) {
	tests := []struct {
		name         string
		pattern, sub string
		want         bool
	}{
		// spec §4.1
		{"hash covers all", "#", "a/b", true},
		{"hash covers hash", "#", "#", true},
		{"hash covers plus", "#", "+", true},
		{"hash covers $", "#", "$SYS/x", true},
		{"hash covers $share", "#", "$share/g/sensors/#", true},
		{"public/# covers public", "public/#", "public", true},
		{"public/# covers public/+", "public/#", "public/+", true},
		{"public/# covers public/a/b", "public/#", "public/a/b", true},
		{"public/# covers public/#", "public/#", "public/#", true},
		{"public/# not publicx", "public/#", "publicx", false},
		{"public/# not hash", "public/#", "#", false},
		{"public/# not +/#", "public/#", "+/#", false},
		{"sub hash needs pattern hash", "a/+", "a/#", false},
		{"pattern longer", "a/b/c", "a/b", false},
		{"sub longer without hash", "a/b", "a/b/c", false},
		{"plus covers literal", "a/+", "a/b", true},
		{"plus covers plus", "a/+", "a/+", true},
		{"plus covers empty level", "a/+", "a/", true},
		{"literal does not cover plus", "a/b", "a/+", false},
		{"literal does not cover plus deeper", "a/b/#", "a/+/c", false},
		{"plus hash covers hash", "+/#", "#", true},
		{"slash hash covers hash", "/#", "#", true},
		{"slash hash not plus", "/#", "+", false},
		{"slash hash covers /+", "/#", "/+", true},
		{"plus not hash", "+", "#", false},
		{"plus covers plus alone", "+", "+", true},
		{"+/+ two levels", "+/+", "topic/topic", true},
		{"+/+ not three levels", "+/+", "topic/topic/", false},
		{"hash pattern plus inside", "foo/+/bar/#", "foo/baz/bar/+", true},
		{"hash pattern literal vs plus", "foo/+/bar/#", "foo/baz/+/#", false},
		{"dollar not special for plus", "+/x", "$SYS/x", true},
		{"share checked as given", "sensors/#", "$share/g/sensors/#", false},
		{"share pattern", "$share/+/sensors/#", "$share/g/sensors/a", true},
		{"exact", "a/b", "a/b", true},
		{"exact differs", "a/b", "a/c", false},
		{"odd pattern compared as text", "a/#/b", "a/#/b", true},
		// %c / %u substitution (a deliberate difference from 2.0.11)
		{"%u covers own hash", "commands/%u/#", "commands/alice/#", true},
		{"%u covers own level", "commands/%u/#", "commands/alice", true},
		{"%u covers own deeper", "commands/%u/#", "commands/alice/x/+", true},
		{"%u literal text no longer covered", "commands/%u/#", "commands/%u/#", false},
		{"%u literal level no longer covered", "commands/%u/#", "commands/%u", false},
		{"%u other user", "commands/%u/#", "commands/bob/#", false},
		{"%u does not cover plus", "commands/%u/#", "commands/+/#", false},
		{"%u does not cover hash", "commands/%u/#", "commands/#", false},
		{"%c", "dev/%c", "dev/alice-device", true},
		{"%c not username", "dev/%c", "dev/alice", false},
		{"%c first", "%c/#", "alice-device/x", true},
		{"partial level is text", "a/x%u", "a/x%u", true},
		{"partial level not substituted", "a/x%u", "a/xalice", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newSubPattern(ACL{Type: SubscribePattern, Topic: tt.pattern, Allow: true})
			s := newSubFilter(tt.sub)
			id := topicTestID
			if got := p.covers(&s, &id); got != tt.want {
				t.Errorf("covers(%q, %q) = %v, want %v", tt.pattern, tt.sub, got, tt.want)
			}
		})
	}
}

func TestTopicCoversSubstitutionUnsafe(t *testing.T) {
	tests := []struct {
		name         string
		id           Identity
		pattern, sub string
		want         bool
	}{
		{"safe", Identity{Username: "u", HasUsername: true}, "c/%u/#", "c/u/#", true},
		{"username plus vs plus", Identity{Username: "+", HasUsername: true}, "c/%u/#", "c/+/#", false},
		{"username hash", Identity{Username: "#", HasUsername: true}, "c/%u/#", "c/#", false},
		{"username with slash", Identity{Username: "a/b", HasUsername: true}, "c/%u/#", "c/a/b", false},
		{"username with plus inside", Identity{Username: "a+b", HasUsername: true}, "c/%u", "c/a+b", false},
		{"empty username", Identity{Username: "", HasUsername: true}, "c/%u", "c/", false},
		{"anonymous", Identity{Username: "u"}, "c/%u", "c/u", false},
		{"client id hash", Identity{ClientID: "#"}, "c/%c/#", "c/#", false},
		{"empty client id", Identity{}, "c/%c", "c/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newSubPattern(ACL{Type: SubscribePattern, Topic: tt.pattern, Allow: true})
			s := newSubFilter(tt.sub)
			if got := p.covers(&s, &tt.id); got != tt.want {
				t.Errorf("covers(%q, %q) = %v, want %v", tt.pattern, tt.sub, got, tt.want)
			}
		})
	}
}

// TestTopicSplitDepth checks the boundary between split and scanned
// topics, and that a deep topic still matches correctly.
func TestTopicSplitDepth(t *testing.T) {
	levels := func(n int) string { return strings.Repeat("x/", n-1) + "x" }
	tests := []struct {
		name      string
		topic     string
		wantSplit bool
		wantN     int
	}{
		{"one level", "x", true, 1},
		{"empty levels", "//", true, 3},
		{"at the limit", levels(maxSplitLevels), true, maxSplitLevels},
		{"over the limit", levels(maxSplitLevels + 1), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s splitTopic
			if got := s.split(tt.topic); got != tt.wantSplit || s.n != tt.wantN {
				t.Errorf("split: %v with %d levels, want %v with %d", got, s.n, tt.wantSplit, tt.wantN)
			}
		})
	}

	deep := levels(40)
	matchTests := []struct {
		filter string
		want   bool
	}{
		{"x/#", true},
		{"#", true},
		{levels(40), true},
		{levels(39), false},
		{levels(41), false},
		{strings.Repeat("+/", 39) + "+", true},
		{strings.Repeat("+/", 39) + "y", false},
		{levels(39) + "/#", true},
		{"y/#", false},
	}
	c := NewConfig(DefaultAccess{})
	for _, tt := range matchTests {
		ptRole(c, "deep", ptACL(PublishClientSend, tt.filter, 0, true))
		ptClient(c, "u", ptRef("deep", NoPriority))
		if got := NewPolicy(c).Allowed(ptUser("u"), AccessPublish, deep); got != tt.want {
			t.Errorf("filter of %d bytes vs a 40-level topic: %v, want %v", len(tt.filter), got, tt.want)
		}
	}
}
