//go:build !linux

package scenarios_test

import "testing"

// Outside Linux there is no unprivileged re-run: one suite, no lock.
type suiteLock struct{}

func lockSuite(*testing.T, bool) *suiteLock { return &suiteLock{} }

func lockHeavy(*testing.T) *suiteLock { return &suiteLock{} }

func (*suiteLock) release() {}

// unprivRun is the unprivileged suite beside this one: Linux only.
type unprivRun struct{}

var unpriv *unprivRun

func startUnprivileged() *unprivRun { return nil }

func (*unprivRun) stop() {}
