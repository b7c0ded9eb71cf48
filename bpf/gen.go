package bpf

//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type slot -type stats sched sched.c -- -I./include -Wall -Werror
