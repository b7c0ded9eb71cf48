package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// Compress writes a copy of each rule file into dir with every duration
// divided by k: range selectors, offsets, subquery ranges and steps, group
// intervals, for and keep_firing_for. Names stay, so rate5m computed over
// 10 s (k = 30) is still called rate5m: the live test runs a day of SLO
// windows in minutes. It returns the paths written.
func Compress(files []RuleFile, k int, dir string) ([]string, error) {
	div := func(d time.Duration) time.Duration { return d / time.Duration(k) }
	mdiv := func(d model.Duration) model.Duration { return model.Duration(div(time.Duration(d))) }
	type rule struct {
		Record        string            `yaml:"record,omitempty"`
		Alert         string            `yaml:"alert,omitempty"`
		Expr          string            `yaml:"expr"`
		For           model.Duration    `yaml:"for,omitempty"`
		KeepFiringFor model.Duration    `yaml:"keep_firing_for,omitempty"`
		Labels        map[string]string `yaml:"labels,omitempty"`
		Annotations   map[string]string `yaml:"annotations,omitempty"`
	}
	type group struct {
		Name     string         `yaml:"name"`
		Interval model.Duration `yaml:"interval,omitempty"`
		Rules    []rule         `yaml:"rules"`
	}
	var out []string
	for _, f := range files {
		var groups []group
		for _, g := range f.Groups.Groups {
			cg := group{Name: g.Name, Interval: mdiv(g.Interval)}
			for _, r := range g.Rules {
				e, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", f.Path, r.Record+r.Alert, err)
				}
				parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
					switch x := n.(type) {
					case *parser.MatrixSelector:
						x.Range = div(x.Range)
					case *parser.VectorSelector:
						x.OriginalOffset = div(x.OriginalOffset)
					case *parser.SubqueryExpr:
						x.Range, x.Step, x.OriginalOffset = div(x.Range), div(x.Step), div(x.OriginalOffset)
					}
					return nil
				})
				cg.Rules = append(cg.Rules, rule{Record: r.Record, Alert: r.Alert, Expr: e.String(),
					For: mdiv(r.For), KeepFiringFor: mdiv(r.KeepFiringFor), Labels: r.Labels, Annotations: r.Annotations})
			}
			groups = append(groups, cg)
		}
		raw, err := yaml.Marshal(map[string]any{"groups": groups})
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, filepath.Base(f.Path))
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
