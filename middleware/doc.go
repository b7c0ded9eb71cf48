// Package middleware instruments net/http and gRPC servers and clients.
package middleware
