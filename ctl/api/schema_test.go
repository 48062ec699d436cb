package api

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slabcast/slabcast/config"
)

type openAPI struct {
	Paths      map[string]map[string]json.RawMessage
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage
		}
	}
}

func loadSchema(t *testing.T) openAPI {
	t.Helper()
	var s openAPI
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

var methods = []string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"}

// routed reports whether the handler has a route for method and path: an
// answer other than "no such route" (404 not_found without a stream) and
// 405.
func routed(a answer) bool {
	if a.code == 405 {
		return false
	}
	return !(a.code == 404 && strings.Contains(string(a.body), "no such API route"))
}

// The schema and the handler agree: every operation the schema names is
// answered, with a status it documents, and the handler answers nothing
// the schema does not name.
func TestSchemaMatchesRoutes(t *testing.T) {
	s := loadSchema(t)
	h, _ := fixture(t)
	documented := map[string]bool{}
	for path, ops := range s.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			m := strings.ToUpper(method)
			p := strings.ReplaceAll(path, "{name}", "alpha")
			documented[m+" "+p] = true
			body := ""
			if m == "PUT" {
				body = "{}"
			}
			a := do(h, m, base+p, editAuth, body)
			if !routed(a) {
				t.Errorf("%s %s is in the schema but not answered: %d %s", m, path, a.code, a.body)
				continue
			}
			var op struct{ Responses map[string]json.RawMessage }
			json.Unmarshal(raw, &op)
			if _, ok := op.Responses[strconv.Itoa(a.code)]; !ok {
				t.Errorf("%s %s answered %d, which the schema does not list", m, path, a.code)
			}
			if a := do(h, m, base+p, "", body); a.code != 401 {
				t.Errorf("%s %s without credentials: %d", m, path, a.code)
			}
		}
	}
	documented["HEAD /streams"], documented["HEAD /streams/alpha"] = true, true // HEAD is GET without the body
	documented["HEAD /config"], documented["HEAD /schema"] = true, true
	for _, p := range []string{"", "/", "/streams", "/streams/", "/streams/alpha", "/config", "/schema", "/stream", "/streams/alpha/x", "/sessions"} {
		for _, m := range methods {
			if documented[m+" "+p] || strings.HasPrefix(p, "/streams/") && m != "POST" && m != "PATCH" {
				continue // /streams/{name}: a name may hold '/'
			}
			body := ""
			if m == "PUT" || m == "POST" || m == "PATCH" {
				body = "{}"
			}
			a := do(h, m, base+p, editAuth, body)
			if routed(a) {
				t.Errorf("%s %s is answered (%d) but not in the schema", m, p, a.code)
			}
		}
	}
}

// Every setting of the config table is in the schema, and nothing else.
func TestSchemaMatchesSettings(t *testing.T) {
	s := loadSchema(t)
	check := func(schema string, scope config.Scope, extra ...string) {
		props := s.Components.Schemas[schema].Properties
		want := append(config.Names(scope), extra...)
		for _, n := range want {
			if _, ok := props[n]; !ok {
				t.Errorf("schema %s lacks %s", schema, n)
			}
		}
		for n := range props {
			if !slices.Contains(want, n) {
				t.Errorf("schema %s has %s, which is no setting", schema, n)
			}
		}
	}
	check("StreamConfig", config.PerStream, "name", "static", "inputs", "$reset")
	check("Input", config.PerInput, "url", "stats")

	// And an answer has only keys the schema gives.
	h, _ := fixture(t)
	for _, name := range []string{"alpha", "gamma", "delta", "omega"} {
		m := do(h, "GET", base+"/streams/"+name, editAuth, "").json(t)
		for k := range m {
			if _, ok := s.Components.Schemas["StreamConfig"].Properties[k]; !ok && k != "stats" {
				t.Errorf("%s: key %s is not in the schema", name, k)
			}
		}
		for k := range m["stats"].(map[string]any) {
			if _, ok := s.Components.Schemas["StreamStats"].Properties[k]; !ok {
				t.Errorf("%s: stats.%s is not in the schema", name, k)
			}
		}
	}
}
