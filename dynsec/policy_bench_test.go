package dynsec

import (
	"fmt"
	"testing"
)

// ptBenchPolicy builds 100 roles of 10 ACLs each (1000 in all; 7 of each
// role's are publishClientSend, a mix of literal, '+' and wildcard-first
// filters), 1000 ordinary clients, and the client "bench" holding roles
// r000-r009 directly and r010-r014 through groups g1 and g2: 105 publish
// ACLs to go through.
func ptBenchPolicy(b *testing.B) *Policy {
	b.Helper()
	c := NewConfig(MosquittoDefaultAccess)
	for i := range 100 {
		var acls []ACL
		for j := range 7 {
			var topic string
			switch j % 3 {
			case 0:
				topic = fmt.Sprintf("site/r%d/dev/%d/+/telemetry", i, j)
			case 1:
				topic = fmt.Sprintf("site/r%d/cmd/%d", i, j)
			default:
				topic = fmt.Sprintf("+/r%d/alarm/%d/#", i, j)
			}
			acls = append(acls, ptACL(PublishClientSend, topic, j, true))
		}
		acls = append(acls,
			ptACL(PublishClientReceive, fmt.Sprintf("site/r%d/#", i), 0, true),
			ptACL(SubscribeLiteral, fmt.Sprintf("site/r%d/status", i), 0, true),
			ptACL(SubscribePattern, fmt.Sprintf("site/r%d/+/#", i), 0, true))
		ptRole(c, fmt.Sprintf("r%03d", i), acls...)
	}
	var direct []RoleRef
	for i := range 10 {
		direct = append(direct, ptRef(fmt.Sprintf("r%03d", i), 20-i))
	}
	ptClient(c, "bench", direct...)
	ptGroup(c, "g1", ptRef("r010", 3), ptRef("r011", 2), ptRef("r012", 1))
	ptGroup(c, "g2", ptRef("r013", 2), ptRef("r014", 1))
	ptMember(c, "g1", "bench", 5)
	ptMember(c, "g2", "bench", 1)
	for i := range 1000 {
		name := fmt.Sprintf("user%04d", i)
		ptClient(c, name, ptRef(fmt.Sprintf("r%03d", i%100), NoPriority), ptRef(fmt.Sprintf("r%03d", (i*7)%100), 1))
		ptMember(c, "g1", name, NoPriority)
	}
	return NewPolicy(c)
}

// BenchmarkAllowedPublish matches the last role's last publish ACL, so
// nearly the whole flattened list is tried first.
func BenchmarkAllowedPublish(b *testing.B) {
	p := ptBenchPolicy(b)
	id := Identity{Username: "bench", HasUsername: true, ClientID: "bench-1"}
	topic := "site/r14/dev/0/sensor7/telemetry" // r014 is last; priority 0 is its last ACL
	list := p.clients["bench"].acls.publish
	if len(list) != 105 || list[len(list)-1].filter != "site/r14/dev/0/+/telemetry" {
		b.Fatalf("the benchmark's ACL list is not as designed (%d entries)", len(list))
	}
	if !p.Allowed(id, AccessPublish, topic) {
		b.Fatal("not allowed")
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Allowed(id, AccessPublish, topic)
	}
}

// BenchmarkAllowedPublishDefault tries every ACL, matches none, and falls
// to the default access (publishClientSend deny).
func BenchmarkAllowedPublishDefault(b *testing.B) {
	p := ptBenchPolicy(b)
	id := Identity{Username: "bench", HasUsername: true, ClientID: "bench-1"}
	topic := "site/r99/dev/0/sensor7/telemetry"
	if p.Allowed(id, AccessPublish, topic) {
		b.Fatal("allowed")
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Allowed(id, AccessPublish, topic)
	}
}
