package stw

//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type stw_event stw stw.c -- -I../include -Wall -Werror
