package sock

//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type conn -type gslot -type peer -type stats sock sock.c -- -I../include -Wall -Werror -mcpu=v3
