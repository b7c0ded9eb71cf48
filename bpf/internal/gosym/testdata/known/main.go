// Command known is a fixture for package gosym's tests: a function with
// several returns whose RET instructions the test compares with a
// disassembly.
package main

import (
	"fmt"
	"os"
)

//go:noinline
func known(x int) int {
	if x > 10 {
		return x * 3
	}
	if x < -10 {
		return -x
	}
	for i := 0; i < x; i++ {
		x += i
	}
	return x + 1
}

func main() {
	fmt.Println(known(len(os.Args)))
}
