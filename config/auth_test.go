package config

import (
	"net/netip"
	"strings"
	"testing"
)

// The console's and the API's access directives are read as Flussonic
// writes them, with clear errors for what is wrong.
func TestAuthDirectives(t *testing.T) {
	c, err := Parse("a.conf", []byte("edit_auth admin s3cret;\nview_auth viewer \"pass word\";\n"+
		"api_allowed_from 10.0.0.0/8 192.168.1.7;\napi_allowed_from ::1 2001:db8::/32;\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.EditAuth == nil || *c.EditAuth != (Credentials{"admin", "s3cret"}) {
		t.Errorf("edit_auth: %+v", c.EditAuth)
	}
	if c.ViewAuth == nil || *c.ViewAuth != (Credentials{"viewer", "pass word"}) {
		t.Errorf("view_auth: %+v", c.ViewAuth)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8::/32")}
	if len(c.APIAllowedFrom) != len(want) {
		t.Fatalf("api_allowed_from: %v, want %v", c.APIAllowedFrom, want)
	}
	for i := range want {
		if c.APIAllowedFrom[i] != want[i] {
			t.Errorf("api_allowed_from[%d] = %v, want %v", i, c.APIAllowedFrom[i], want[i])
		}
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}

	// The operator's 70 networks on one line (config/testdata/flussonic).
	c, err = Load("testdata/flussonic/ansible.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.APIAllowedFrom) != 70 || c.APIAllowedFrom[69] != netip.MustParsePrefix("10.0.69.0/24") {
		t.Errorf("ansible.conf: %d networks, last %v", len(c.APIAllowedFrom), c.APIAllowedFrom[len(c.APIAllowedFrom)-1])
	}
	c, err = Load("testdata/flussonic/installer.conf", Options{})
	if err != nil || c.EditAuth == nil {
		t.Fatalf("installer.conf: %v, edit_auth %+v", err, c)
	}

	for src, msg := range map[string]string{
		"edit_auth admin;":               "a.conf:1:16: edit_auth: want a user and a password: edit_auth USER PASSWORD;",
		"edit_auth a b c;":               "a.conf:1:15: edit_auth: want a user and a password",
		"edit_auth a b;\nedit_auth c d;": "a.conf:2:1: edit_auth is already set at line 1",
		"view_auth a:b c;":               "a.conf:1:11: view_auth: a user name cannot hold ':'",
		"edit_auth a b { }":              "a.conf:1:15: edit_auth does not take a block",
		"api_allowed_from 10.0.0.0/33;":  `a.conf:1:18: api_allowed_from: "10.0.0.0/33" is not a network`,
		"api_allowed_from;":              "a.conf:1:17: api_allowed_from: missing value",
		"api_allowed_from everyone;":     `api_allowed_from: "everyone" is not a network`,
	} {
		_, err := Parse("a.conf", []byte(src), Options{})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want one containing %q", src, err, msg)
		}
	}
}
