package middleware

import (
	"net/url"
	"strings"
)

// redacted replaces credentials and signature values in url.full.
const redacted = "REDACTED"

// sensitiveQueryKeys are the query keys whose values the semantic
// conventions ask to redact in url.full by default: signatures of
// pre-signed URLs (AWS, Azure SAS, Google Cloud Storage).
var sensitiveQueryKeys = [...]string{"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"}

// redactURL returns url.full for u as the semantic conventions ask: user
// name and password replaced by REDACTED (url.URL.Redacted keeps the user
// name, which is often a token: https://<token>@host/), and the values of
// the sensitive query keys replaced by REDACTED. The fragment is not sent
// and not recorded. An URL without credentials or sensitive keys costs
// what url.URL.String does.
func redactURL(u *url.URL) string {
	sensitive := hasSensitiveKey(u.RawQuery)
	if u.User == nil && !sensitive && u.Fragment == "" && u.RawFragment == "" {
		return u.String()
	}
	c := *u
	if c.User != nil {
		if _, hasPassword := c.User.Password(); hasPassword {
			c.User = url.UserPassword(redacted, redacted)
		} else {
			c.User = url.User(redacted)
		}
	}
	if sensitive {
		c.RawQuery = redactQuery(c.RawQuery)
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// hasSensitiveKey reports whether the raw query has a sensitive key.
func hasSensitiveKey(q string) bool {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if isSensitiveKey(pair) {
			return true
		}
	}
	return false
}

// isSensitiveKey reports whether the key of "key=value" is sensitive. Keys
// are compared as sent (the conventions name them exactly).
func isSensitiveKey(pair string) bool {
	k, _, _ := strings.Cut(pair, "=")
	for _, s := range sensitiveQueryKeys {
		if k == s {
			return true
		}
	}
	return false
}

// redactQuery replaces the values of the sensitive keys in q, keeping the
// order and the other pairs as they were.
func redactQuery(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	first := true
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if !first {
			b.WriteByte('&')
		}
		first = false
		if isSensitiveKey(pair) {
			k, _, _ := strings.Cut(pair, "=")
			b.WriteString(k)
			b.WriteString("=" + redacted)
			continue
		}
		b.WriteString(pair)
	}
	return b.String()
}
