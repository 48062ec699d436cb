package config

// Change is what a reload from one config to another must do. Streams not
// named in it are unchanged and must be left running untouched.
type Change struct {
	Added   []string // streams to start, in the new file's order
	Removed []string // streams to stop, in the old file's order
	Changed []string // streams to restart with new settings, in the new file's order
	// Globals names the global settings whose value changed, in the order
	// of Settings ("http", "ctl", "cpus", "memory"); they take effect only
	// on a daemon restart.
	Globals []string
}

// Empty reports whether the reload has nothing to do.
func (c Change) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0 && len(c.Globals) == 0
}

// Diff says what a reload from old to new must do. A stream whose settings
// differ (Stream.Equal), including one turned from stream to ondemand or
// switched off with disabled, or whose reason not to start (Problem)
// differs, as when a directive at the top now protects every stream, is
// Changed. A nil config has no streams; global settings are compared only
// when both configs are non-nil.
func Diff(old, new *Config) Change {
	var ch Change
	var oldStreams, newStreams []Stream
	if old != nil {
		oldStreams = old.Streams
	}
	if new != nil {
		newStreams = new.Streams
	}
	before := make(map[string]int, len(oldStreams))
	for i, s := range oldStreams {
		before[s.Name] = i
	}
	after := make(map[string]bool, len(newStreams))
	for _, s := range newStreams {
		after[s.Name] = true
		i, ok := before[s.Name]
		switch {
		case !ok:
			ch.Added = append(ch.Added, s.Name)
		case !s.Equal(oldStreams[i]) || s.Problem != oldStreams[i].Problem:
			ch.Changed = append(ch.Changed, s.Name)
		}
	}
	for _, s := range oldStreams {
		if !after[s.Name] {
			ch.Removed = append(ch.Removed, s.Name)
		}
	}
	if old != nil && new != nil {
		for _, set := range Settings {
			if set.Scope == Global && set.GlobalText(old) != set.GlobalText(new) {
				ch.Globals = append(ch.Globals, set.Name)
			}
		}
	}
	return ch
}
