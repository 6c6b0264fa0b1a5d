package dynsec

import "slices"

// InitAdminRole is the name of the role `mosquitto_ctrl dynsec init`
// creates; it is always "admin", whatever the admin client is called.
const InitAdminRole = "admin"

// InitConfig returns the configuration `mosquitto_ctrl dynsec init FILE
// ADMIN PASSWORD` creates (spec §5.1), as Mosquitto's plugin holds it
// once it has loaded that file: one client, admin, with the admin role
// and pw (copied; nil means no password); the admin role, which may use
// the dynsec control topics and read everything but publish nothing else;
// and Mosquitto's default access.
func InitConfig(admin string, pw *Password) *Config {
	c := NewConfig(MosquittoDefaultAccess)
	textName := "Dynsec admin user"
	cl := &Client{Username: admin, TextName: &textName, Roles: []RoleRef{{Name: InitAdminRole, Priority: NoPriority}}}
	if pw != nil {
		cl.Password = &Password{Hash: slices.Clone(pw.Hash), Salt: slices.Clone(pw.Salt), Iterations: pw.Iterations}
	}
	c.Clients[admin] = cl
	c.Roles[InitAdminRole] = &Role{Name: InitAdminRole, ACLs: initAdminACLs()}
	return c
}

// initAdminACLs returns the admin role's ACLs in the order init writes
// them, which is their insertion order. init writes no priorities, so all
// are 0.
func initAdminACLs() []ACL {
	const (
		control = "$CONTROL/dynamic-security/#"
		sys     = "$SYS/#"
	)
	acls := []ACL{
		{Type: PublishClientSend, Topic: control},
		{Type: PublishClientReceive, Topic: control},
		{Type: SubscribePattern, Topic: control},
		{Type: PublishClientReceive, Topic: sys},
		{Type: SubscribePattern, Topic: sys},
		{Type: PublishClientReceive, Topic: "#"},
		{Type: SubscribePattern, Topic: "#"},
		{Type: UnsubscribePattern, Topic: "#"},
	}
	for i := range acls {
		acls[i].Allow = true
	}
	return acls
}
