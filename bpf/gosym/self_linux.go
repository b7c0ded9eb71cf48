package gosym

// OpenSelf parses the Go line table of the running executable, through
// /proc/self/exe (which names the executable even if its file was replaced
// or deleted since the process started).
func OpenSelf() (*Table, error) { return Open("/proc/self/exe") }
