package ctl

// The JSON form of streams and inputs. Their settings are not struct fields
// but come from the table in package config, so a setting added there is
// taken and given by the protocol without a change here: they are
// marshalled flat, beside the fixed keys, in the table's order.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/slabcast/slabcast/config"
)

// MarshalJSON writes the request's cmd, then its stream.
func (r Request) MarshalJSON() ([]byte, error) {
	var b []byte
	b = append(b, `{"cmd":`...)
	b = strconv.AppendQuote(b, r.Cmd)
	return r.StreamJSON.appendFields(b, true), nil
}

// UnmarshalJSON reads a request leniently: unknown keys are ignored. The
// server reads requests with ParseRequest, which refuses them.
func (r *Request) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if err := decodeString("cmd", raw["cmd"], &r.Cmd); err != nil {
		return err
	}
	return decodeStream(raw, &r.StreamJSON)
}

// MarshalJSON writes the stream with its settings flat, in table order.
func (s StreamJSON) MarshalJSON() ([]byte, error) {
	return s.appendFields([]byte{'{'}, false), nil
}

// UnmarshalJSON reads a stream as an answer gives it; keys it does not know
// (a newer daemon's settings) are ignored.
func (s *StreamJSON) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	return decodeStream(raw, s)
}

// appendFields appends the stream's keys and the closing brace to b, which
// holds an object's opening brace and, if more is set, keys before these.
func (s StreamJSON) appendFields(b []byte, more bool) []byte {
	for _, kv := range [...]struct{ k, v string }{{"name", s.Name}, {"type", s.Type}, {"input", s.Input}} {
		if kv.v != "" {
			b = appendKey(b, &more, kv.k)
			b = strconv.AppendQuote(b, kv.v)
		}
	}
	if len(s.Inputs) > 0 {
		b = appendKey(b, &more, "inputs")
		b = append(b, '[')
		for i, in := range s.Inputs {
			if i > 0 {
				b = append(b, ',')
			}
			b = in.appendJSON(b)
		}
		b = append(b, ']')
	}
	b = appendSettings(b, &more, config.PerStream, s.Settings)
	return append(b, '}')
}

// appendKey appends "key": to an object, after a comma if more keys came
// before it.
func appendKey(b []byte, more *bool, key string) []byte {
	if *more {
		b = append(b, ',')
	}
	*more = true
	b = strconv.AppendQuote(b, key)
	return append(b, ':')
}

// MarshalJSON writes the input: url, then its options in table order.
func (in InputJSON) MarshalJSON() ([]byte, error) { return in.appendJSON(nil), nil }

func (in InputJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"url":`...)
	b = strconv.AppendQuote(b, in.URL)
	more := true
	b = appendSettings(b, &more, config.PerInput, in.Settings)
	return append(b, '}')
}

// UnmarshalJSON reads an input; unknown keys are ignored.
func (in *InputJSON) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	return decodeInput(raw, in, "inputs")
}

// appendSettings appends the values of the settings of scope that vals
// holds, in table order. Numeric values are written as the numbers they are
// (they were checked when they were decoded).
func appendSettings(b []byte, more *bool, scope config.Scope, vals map[string]string) []byte {
	for _, set := range config.Settings {
		v, ok := vals[set.Name]
		if set.Scope != scope || !ok {
			continue
		}
		b = appendKey(b, more, set.Name)
		if (set.Kind.Numeric() || set.Kind == config.Flag) && json.Valid([]byte(v)) {
			b = append(b, v...)
		} else {
			b = strconv.AppendQuote(b, v)
		}
	}
	return b
}

// decodeStream fills s from the keys of a stream object. Keys are checked
// by the caller; values are checked here for their JSON type only (the
// config parser judges them, see StreamFromRequest).
func decodeStream(raw map[string]json.RawMessage, s *StreamJSON) error {
	for _, kv := range [...]struct {
		k string
		v *string
	}{{"name", &s.Name}, {"type", &s.Type}, {"input", &s.Input}} {
		if err := decodeString(kv.k, raw[kv.k], kv.v); err != nil {
			return err
		}
	}
	if r, ok := raw["inputs"]; ok && !isNull(r) {
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(r, &list); err != nil {
			return errors.New("ctl: \"inputs\" is not a list of objects")
		}
		s.Inputs = make([]InputJSON, len(list))
		for i, m := range list {
			if m == nil {
				return fmt.Errorf("ctl: inputs[%d] is not an object", i)
			}
			if err := decodeInput(m, &s.Inputs[i], fmt.Sprintf("inputs[%d]", i)); err != nil {
				return err
			}
		}
	}
	var err error
	s.Settings, err = decodeSettings(raw, config.PerStream, "")
	return err
}

// decodeInput fills in from an input object; where names it in messages.
func decodeInput(raw map[string]json.RawMessage, in *InputJSON, where string) error {
	if err := decodeString(where+".url", raw["url"], &in.URL); err != nil {
		return err
	}
	var err error
	in.Settings, err = decodeSettings(raw, config.PerInput, where+".")
	return err
}

// decodeSettings takes the values of the settings of scope from raw.
// Numeric settings take a JSON number, or a string holding one, as
// encoding/json's Number does; prefix goes before keys in messages.
func decodeSettings(raw map[string]json.RawMessage, scope config.Scope, prefix string) (map[string]string, error) {
	var vals map[string]string
	for _, set := range config.Settings {
		r, ok := raw[set.Name]
		if set.Scope != scope || !ok || isNull(r) {
			continue
		}
		var v string
		switch {
		case set.Kind == config.Flag || set.Never && jsonType(r) == "bool":
			var b bool
			if err := json.Unmarshal(r, &b); err != nil {
				return nil, fmt.Errorf("ctl: %s: expected true or false, found a JSON %s", config.Quote(prefix+set.Name), jsonType(r))
			}
			if b && set.Kind != config.Flag {
				return nil, fmt.Errorf("ctl: %s: expected a number of seconds or false, found true", config.Quote(prefix+set.Name))
			}
			v = strconv.FormatBool(b)
		case set.Kind.Numeric():
			var n json.Number
			if err := json.Unmarshal(r, &n); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return nil, fmt.Errorf("ctl: %s: expected a number, found a JSON %s", config.Quote(prefix+set.Name), jsonType(r))
				}
				return nil, fmt.Errorf("ctl: bad request: %s: %w", config.Quote(prefix+set.Name), err)
			}
			v = string(n)
		default:
			if err := decodeString(prefix+set.Name, r, &v); err != nil {
				return nil, err
			}
		}
		if vals == nil {
			vals = map[string]string{}
		}
		vals[set.Name] = v
	}
	return vals, nil
}

// decodeString decodes a JSON string (or null, leaving dst alone).
func decodeString(key string, r json.RawMessage, dst *string) error {
	if r == nil || isNull(r) {
		return nil
	}
	if err := json.Unmarshal(r, dst); err != nil {
		return fmt.Errorf("ctl: %s: expected a string, found a JSON %s", config.Quote(key), jsonType(r))
	}
	return nil
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

// jsonType names the type of a JSON value as encoding/json's errors do.
func jsonType(r json.RawMessage) string {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return "value"
	}
	switch r[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case '{':
		return "object"
	case '[':
		return "array"
	case 'n':
		return "null"
	}
	return "number"
}
