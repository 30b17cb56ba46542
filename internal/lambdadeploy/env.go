package lambdadeploy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

type envDiff struct {
	added, changed, removed []string
	notPresent              []string // --unset keys the function did not have
	kept                    int      // variables left as they were
	replace                 bool     // the variables given are the whole set
	unknown                 bool     // the current variables could not be read
	restored                bool     // the rollback puts the old set back
}

// any reports whether the environment is to be written. Variables that
// could not be read are always replaced (only --replace-env gets here).
func (d envDiff) any() bool {
	return d.unknown || len(d.added)+len(d.changed)+len(d.removed) > 0
}

// mergeEnv applies set and unset to cur: nothing else is removed. With
// replace, set is the whole new environment. known says whether cur could
// be read at all; when it could not (only with replace), every variable
// given counts as set and the old ones as unknown.
func mergeEnv(cur map[string]string, known bool, set []EnvVar, unset []string, replace bool) (map[string]string, envDiff) {
	next := maps.Clone(cur)
	if next == nil || replace {
		next = map[string]string{}
	}
	d := envDiff{replace: replace, unknown: !known}
	touched := map[string]bool{}
	for _, e := range set {
		touched[e.Key] = true
		old, ok := cur[e.Key]
		switch {
		case !known || !ok:
			d.added = append(d.added, e.Key)
		case old != e.Value:
			d.changed = append(d.changed, e.Key)
		}
		next[e.Key] = e.Value
	}
	for _, k := range unset {
		touched[k] = true
		if _, ok := next[k]; ok {
			delete(next, k)
			d.removed = append(d.removed, k)
		} else {
			d.notPresent = append(d.notPresent, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		switch {
		case touched[k]:
		case replace:
			d.removed = append(d.removed, k)
		default:
			d.kept++
		}
	}
	return next, d
}

func envSize(env map[string]string) int {
	n := 0
	for k, v := range env {
		n += len(k) + len(v)
	}
	return n
}

// describe says what changes, never showing a secret value or an old value.
func (d envDiff) describe(vars []EnvVar) string {
	if d.restored {
		return "the previous variables are set again"
	}
	if !d.any() {
		return "unchanged"
	}
	val := map[string]string{}
	for _, e := range vars {
		if e.Secret {
			val[e.Key] = "***"
		} else {
			val[e.Key] = e.Value
		}
	}
	var parts []string
	var set []string
	for _, k := range append(slices.Clone(d.added), d.changed...) {
		set = append(set, k+"="+val[k])
	}
	if len(set) > 0 {
		parts = append(parts, "set "+strings.Join(set, ", "))
	}
	if len(d.removed) > 0 {
		parts = append(parts, "unset "+strings.Join(d.removed, ", "))
	}
	switch {
	case d.unknown:
		parts = append(parts, "the current variables cannot be read; these become the whole environment (--replace-env)")
	case d.replace:
		parts = append(parts, "nothing else kept (--replace-env)")
	default:
		parts = append(parts, fmt.Sprintf("%d other%s kept", d.kept, plural(d.kept)))
	}
	return strings.Join(parts, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
