// Package semconv holds every metric name, attribute key and unit that
// verdict emits, in one place, so that instrumentation, dashboards and rules
// agree. Names defined by the OpenTelemetry semantic conventions are used
// exactly as specified; verdict's own names live under the "verdict." prefix.
//
// Each area of the library keeps its names in its own file of this package.
package semconv
