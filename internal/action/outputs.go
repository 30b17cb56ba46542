package action

import (
	"fmt"
	"strings"
)

// ParseOutputs parses the GITHUB_OUTPUT file format, name=value lines and
// name<<DELIMITER heredocs, as the Actions runner reads them: for a step
// that reads what another tool wrote, and for tests.
func ParseOutputs(b []byte) (map[string]string, error) {
	outs := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		var name, value string
		if n, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(n, "=") {
			name = n
			var val []string
			closed := false
			for i++; i < len(lines); i++ {
				if lines[i] == delim {
					closed = true
					break
				}
				val = append(val, lines[i])
			}
			if !closed {
				return nil, fmt.Errorf("output %s: heredoc delimiter %s never closed", name, delim)
			}
			value = strings.Join(val, "\n")
		} else if n, v, ok := strings.Cut(line, "="); ok {
			name, value = n, v
		} else {
			return nil, fmt.Errorf("line %d: malformed: %q", i+1, line)
		}
		if _, dup := outs[name]; dup {
			return nil, fmt.Errorf("output %s set twice", name)
		}
		outs[name] = value
	}
	return outs, nil
}
