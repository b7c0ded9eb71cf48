package gen

import (
	"fmt"
	"strings"
)

// Rule is one Prometheus recording or alerting rule.
type Rule struct {
	Record      string
	Alert       string
	Expr        string
	For         string
	Labels      [][2]string // in order
	Annotations [][2]string // in order
	Comment     string      // written above the rule
}

// Group is a Prometheus rule group.
type Group struct {
	Name     string
	Interval string // "" means the global evaluation interval
	Comment  string
	Rules    []Rule
}

// ruleFile renders groups as a Prometheus rule file. Expressions are
// block scalars; other strings are double-quoted with JSON escapes, which
// YAML reads the same way.
func ruleFile(header string, groups []Group) []byte {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(header), "\n") {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	b.WriteString("groups:\n")
	for _, g := range groups {
		comment(&b, "  ", g.Comment)
		fmt.Fprintf(&b, "  - name: %s\n", quote(g.Name))
		if g.Interval != "" {
			fmt.Fprintf(&b, "    interval: %s\n", g.Interval)
		}
		b.WriteString("    rules:\n")
		for _, r := range g.Rules {
			comment(&b, "      ", r.Comment)
			if r.Record != "" {
				fmt.Fprintf(&b, "      - record: %s\n", r.Record)
			} else {
				fmt.Fprintf(&b, "      - alert: %s\n", r.Alert)
			}
			b.WriteString("        expr: |-\n")
			for _, l := range strings.Split(strings.TrimSpace(r.Expr), "\n") {
				b.WriteString(strings.TrimRight("          "+l, " ") + "\n")
			}
			if r.For != "" {
				fmt.Fprintf(&b, "        for: %s\n", r.For)
			}
			pairs(&b, "labels", r.Labels)
			pairs(&b, "annotations", r.Annotations)
		}
	}
	return []byte(b.String())
}

func comment(b *strings.Builder, indent, text string) {
	if text == "" {
		return
	}
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		b.WriteString(strings.TrimRight(indent+"# "+l, " ") + "\n")
	}
}

func pairs(b *strings.Builder, key string, kv [][2]string) {
	if len(kv) == 0 {
		return
	}
	fmt.Fprintf(b, "        %s:\n", key)
	for _, p := range kv {
		fmt.Fprintf(b, "          %s: %s\n", p[0], quote(p[1]))
	}
}

// quote returns s as a YAML double-quoted scalar.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
