package sqlxprobe

import (
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// maxLabelLen bounds the string attributes of metric series (operation,
// collection, summary), in bytes: the semantic conventions cap
// db.query.summary at 255 characters, and Prometheus-compatible backends
// reject label values over a few KB.
const maxLabelLen = 255

// metricSeries returns the series key and the attributes with which an
// operation of shape sh is recorded in db.client.operation.duration: the
// base attributes, db.operation.name, db.collection.name and
// db.query.summary, each bounded to maxLabelLen bytes. db.query.text (the
// fingerprint) stays on the span: as a label it would make one series per
// distinct statement, with values as long as the statement (the semantic
// conventions make it opt-in on the metric for that reason).
func metricSeries(base []attribute.KeyValue, sh queryShape) (key string, attrs []attribute.KeyValue) {
	attrs = make([]attribute.KeyValue, 0, len(base)+3)
	attrs = append(attrs, base...)
	if sh.operation != "" {
		attrs = append(attrs, attribute.String(semconv.AttrDBOperationName, truncateUTF8(sh.operation, maxLabelLen)))
	}
	if sh.collection != "" {
		attrs = append(attrs, attribute.String(semconv.AttrDBCollectionName, truncateUTF8(sh.collection, maxLabelLen)))
	}
	key = truncateUTF8(sh.summary, maxLabelLen)
	if key != "" {
		attrs = append(attrs, attribute.String(semconv.AttrDBQuerySummary, key))
	}
	return key, attrs
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8
// sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
