//go:build !(linux && (386 || amd64 || arm64))

package sock

import "structs"

// Where bpf2go's output does not build (no kernel programs run), a copy of
// the generated types lets the table logic compile and its tests run.
// TestLayoutMatchesGenerated compares it with the generated types where they
// exist.
type (
	conn struct {
		_         structs.HostLayout
		Key       uint64
		Gen       uint64
		RxBytes   uint64
		TxBytes   uint64
		RdWaitNs  uint64
		RdWaits   uint64
		RdPend    uint64
		WrWaitNs  uint64
		WrWaits   uint64
		WrPend    uint64
		Retrans   uint64
		Resets    uint64
		ConnectNs uint64
		EstTs     uint64
		Closed    uint64
		Pad       uint64
	}
	gslot struct {
		_        structs.HostLayout
		Key      uint64
		Gen      uint64
		Since    uint64
		RxBytes  uint64
		TxBytes  uint64
		RdWaitNs uint64
		WrWaitNs uint64
		Retrans  uint64
		Resets   uint64
		Pad      [7]uint64
	}
	peer struct {
		_           structs.HostLayout
		Key         uint64
		Ready       uint64
		Addr        [16]uint8
		Port        uint16
		P1          uint16
		P2          uint32
		Connects    uint64
		Established uint64
		Refused     uint64
		Failed      uint64
		ResetsRx    uint64
		ResetsTx    uint64
		Retrans     uint64
		Pad         [4]uint64
	}
	stats struct {
		_         structs.HostLayout
		HostTgid  uint64
		Published uint64
		SockDrops uint64
		ConnDrops uint64
		PeerDrops uint64
		Other     [7]uint64
		Pad       [4]uint64
	}
)
