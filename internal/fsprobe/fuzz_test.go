package fsprobe

import "testing"

// FuzzProbe: Probe never panics, on the bytes as given and on them placed at off in a
// zeroed buffer of size bytes (so short inputs reach signatures deep in the first MiB, such
// as btrfs at 64 KiB, and buffers end anywhere).
func FuzzProbe(f *testing.F) {
	f.Add([]byte("XFSB"), uint32(0), uint32(4))
	f.Add([]byte("XFSB\x00\x00\x10\x00\x00\x00\x00\x00\x00\x01\x00\x00"), uint32(0), uint32(200))
	f.Add([]byte("_BHRfS_M"), uint32(btrfsMagicOff), uint32(btrfsMagicOff+8))
	f.Add([]byte("_BHRfS_M"), uint32(btrfsMagicOff), uint32(btrfsSB+0x200))
	f.Add([]byte("\x53\xef"), uint32(extMagicOff), uint32(2048))
	f.Add([]byte("SWAPSPACE2"), uint32(4096-10), uint32(4096))
	f.Add([]byte("EFI PART"), uint32(512), uint32(1024))
	f.Add([]byte("LUKS\xba\xbe\x00\x01"), uint32(0), uint32(600))
	f.Add([]byte("\x80\x00\x00\x00\x83"), uint32(446), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, off, size uint32) {
		check := func(b []byte) {
			r := Probe(b)
			if r.Type == "" {
				t.Fatalf("empty type for %d bytes", len(b))
			}
			_ = r.String()
			_ = r.IsFilesystem()
		}
		check(data)
		n := int(size % (ProbeSize + 1))
		o := int(off % (ProbeSize + 1))
		if o >= n {
			return
		}
		b := make([]byte, n)
		copy(b[o:], data)
		check(b)
	})
}
