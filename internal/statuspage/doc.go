// Package statuspage renders verdict's status page (tracer.Tracer.Handler)
// from a [Page]: one self-contained HTML document with inline SVG, no
// external assets and no JavaScript, escaped by html/template. The tracer
// fills the Page from its Status, verdicts, span stage and probes; this
// package only lays it out, so it holds no state and imports nothing of
// verdict's public packages.
package statuspage
