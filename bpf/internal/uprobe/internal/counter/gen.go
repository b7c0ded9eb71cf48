// Package counter is a test fixture: a uprobe program that counts its hits,
// separately for the own process and for any other.
package counter

//go:generate go tool bpf2go -tags linux -target amd64,arm64 counter counter.c -- -I../../../../include -Wall -Werror
