package uprobe

import "fmt"

// Placement says where in a function a probe fires.
type Placement int

const (
	// Entry fires once per call, before the function body runs, at the
	// cheapest instruction that qualifies (see gosym.EntryOffset); the
	// argument registers hold the arguments.
	Entry Placement = iota
	// Return fires on every RET instruction of the function, with the
	// result registers set. Exits by panic or tail jump are not seen.
	Return
	// EntryFirstInstruction fires at the function's first instruction,
	// which the kernel single-steps: about twelve times the cost of Entry
	// here. It also fires again when the call restarts after a stack
	// growth or a cooperative preemption at the prologue, so it can count
	// a call twice. For measurements only.
	EntryFirstInstruction
)

func (p Placement) String() string {
	switch p {
	case Entry:
		return "entry"
	case Return:
		return "return"
	case EntryFirstInstruction:
		return "entry-first-instruction"
	default:
		return fmt.Sprintf("Placement(%d)", int(p))
	}
}

// FailurePolicy says what [Attach] does when one probe cannot be attached.
type FailurePolicy int

const (
	// Required makes Attach fail, releasing everything it attached. The
	// zero value: a probe set is all-or-nothing unless a probe says
	// otherwise.
	Required FailurePolicy = iota
	// Optional skips the probe; Attach succeeds and [Set.Skipped] reports
	// why the probe is missing.
	Optional
)

func (p FailurePolicy) String() string {
	switch p {
	case Required:
		return "required"
	case Optional:
		return "optional"
	default:
		return fmt.Sprintf("FailurePolicy(%d)", int(p))
	}
}

// Attachment describes one attached probe.
type Attachment struct {
	Symbol    string
	Placement Placement
	// FileOffset is the function's entry offset in the executable file.
	FileOffset uint64
	// Offsets are the probed instructions, relative to the function's
	// entry: one for entry placements, one per RET for Return.
	Offsets []uint64
	// Emulated reports whether the kernel emulates every probed
	// instruction (cheap) rather than single-stepping it.
	Emulated bool
	// Multi reports whether the probe shares one uprobe_multi link with
	// the other probes of its program (see PrepareSpec) rather than having
	// one perf-event uprobe per instruction; detaching is then much faster.
	Multi bool
}
