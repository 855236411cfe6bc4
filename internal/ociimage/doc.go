// Package ociimage reads a container image from local files and lays it out the way easyto's
// AMI builder does: the flattened root filesystem and /.easyto/metadata.json. It is the image
// side of `bootplan try` (issue 18); booting the result is not here.
//
// Inputs are a `docker save` tarball, an OCI image layout directory, or an OCI archive (a tar
// of a layout, read in place). They are read with github.com/google/go-containerregistry
// (the library easyto uses); no registry or daemon is ever contacted, and the package does not
// link an HTTP client (TestNoNetworkCode). From an image index the linux/<arch> image is
// picked (amd64 or arm64); an absent architecture is an error naming the ones present.
//
// Extract applies layers bottom-up with OCI whiteouts, verifies every layer against the
// config's diff_ids, and never writes outside its root: absolute paths and ".." are refused,
// and so is any entry below a symlink (nothing is resolved through a symlink, even one
// pointing inside the root). Ownership is applied when running as root and always recorded
// in the returned Tree, with device nodes and fifos (recorded, never created) and xattrs.
//
// # Where `try` should live: a separate binary, cmd/bootplan-try
//
// Measured with go1.26.8, CGO_ENABLED=0, -trimpath -ldflags='-s -w' (the release flags),
// cmd/bootplan with this package linked in and reachable, against cmd/bootplan today:
//
//	amd64: 14,041,250 → 14,553,250 bytes (+512,000, +3.6%)
//	arm64: 13,041,826 → 13,500,578 bytes (+458,752, +3.5%)
//	a main importing only this package: 3,555,490 bytes (hello world: 1,585,314)
//
// The image reader alone is cheap, because cmd/bootplan already links most of what it needs.
// The recommendation is still a separate build, cmd/bootplan-try (as bootplan-validate is a
// separate build of the validator), because:
//   - `try` runs on a developer's machine, never on an instance; every byte and line of it in
//     the bootplan binary ships inside every AMI for nothing;
//   - the rest of `try` is host-only and much larger than this reader: the QEMU driver, the mock
//     IMDS, the moto seeding and the kernel/asset fetching of the VM harness;
//   - code that unpacks untrusted tarballs and talks to QEMU does not belong in a binary that
//     runs as root beside PID 1.
package ociimage
