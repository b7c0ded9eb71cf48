package monoclock

import (
	"testing"
	"time"
)

func TestBridgeAgreesWithGo(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	_, _, bound, err := Bridge()
	if err != nil {
		t.Fatal(err)
	}
	// A later reading of both clocks converts within the pairing errors
	// plus the gap between the two reads.
	for i := 0; i < 100; i++ {
		before := time.Now()
		m, err := Now()
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		lo, hi := c.Mono(before), c.Mono(after)
		slack := int64(after.Sub(before)) + int64(bound) + int64(time.Millisecond)
		if m < lo-slack || m > hi+slack {
			t.Fatalf("reading %d outside [%d, %d] ± %d", m, lo, hi, slack)
		}
		if got := c.Time(c.Mono(before)); !got.Equal(before) {
			t.Fatalf("round trip %v != %v", got, before)
		}
	}
}
