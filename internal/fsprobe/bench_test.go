package fsprobe

import "testing"

// BenchmarkProbeBlank is the worst case: a blank device's whole first MiB is scanned.
func BenchmarkProbeBlank(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Probe(buf)
	}
}
