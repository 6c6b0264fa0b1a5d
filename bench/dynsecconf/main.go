// Command dynsecconf writes the dynamic-security.json the benchmark's
// triad-dynsec broker starts from: -roles roles of -acls ACL entries in
// all, spread evenly over publishClientSend, publishClientReceive and
// subscribePattern on topics the load never uses, and an anonymous group
// (loadgen's clients are anonymous) holding -held of the roles. The role
// with the lowest priority among those also allows the load's topics
// (bench/#), so every check walks every other held ACL of its type first.
//
//	go run ./bench/dynsecconf -roles 100 -acls 1000 -held 10 > dynamic-security.json
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"

	"github.com/triadmq/triad/dynsec"
)

func main() {
	roles := flag.Int("roles", 100, "roles in the configuration")
	acls := flag.Int("acls", 1000, "ACL entries over all roles")
	held := flag.Int("held", 10, "roles the anonymous group holds")
	flag.Parse()
	if *roles < 1 || *acls < *roles || *held < 1 || *held > *roles {
		fmt.Fprintf(os.Stderr, "dynsecconf: want roles >= 1, acls >= roles, 1 <= held <= roles (got %d, %d, %d)\n", *roles, *acls, *held)
		os.Exit(2)
	}
	cfg, err := build(*roles, *acls, *held)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynsecconf:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(cfg.MarshalFile()); err != nil {
		fmt.Fprintln(os.Stderr, "dynsecconf:", err)
		os.Exit(1)
	}
}

func build(roles, acls, held int) (*dynsec.Config, error) {
	pw, err := dynsec.HashPassword("bench", rand.Reader)
	if err != nil {
		return nil, err
	}
	cfg := dynsec.InitConfig("admin", pw)
	types := []string{dynsec.PublishClientSend, dynsec.PublishClientReceive, dynsec.SubscribePattern}
	group := &dynsec.Group{Name: "bench-anonymous"}
	for r := 0; r < roles; r++ {
		role := &dynsec.Role{Name: fmt.Sprintf("r%03d", r)}
		for a := r; a < acls; a += roles {
			role.ACLs = append(role.ACLs, dynsec.ACL{Type: types[a%len(types)],
				Topic: fmt.Sprintf("fleet/%03d/%04d/+/#", r, a), Priority: a % 7, Allow: true})
		}
		if r < held {
			group.Roles = append(group.Roles, dynsec.RoleRef{Name: role.Name, Priority: held - r})
		}
		if r == held-1 { // the last held role in evaluation order
			for _, t := range types {
				role.ACLs = append(role.ACLs, dynsec.ACL{Type: t, Topic: "bench/#", Allow: true})
			}
		}
		cfg.Roles[role.Name] = role
	}
	cfg.Groups[group.Name] = group
	cfg.AnonymousGroup = group.Name
	return cfg, nil
}
