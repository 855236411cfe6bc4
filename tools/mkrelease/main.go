// Command mkrelease writes a release tarball (see internal/release) and appends its checksum
// to SHA256SUMS in the output directory. Used by `make release`.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bootplan/bootplan/internal/release"
)

func main() {
	version := flag.String("version", "", "release version, e.g. v1.2.3")
	arch := flag.String("arch", "", "amd64 or arm64")
	initBin := flag.String("init", "", "stage one binary")
	bootplanBin := flag.String("bootplan", "", "stage two / CLI binary")
	out := flag.String("o", "dist", "output directory")
	flag.Parse()
	if *version == "" || *arch == "" || *initBin == "" || *bootplanBin == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*version, *arch, *initBin, *bootplanBin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkrelease:", err)
		os.Exit(1)
	}
}

func run(version, arch, initBin, bootplanBin, out string) error {
	i, err := os.ReadFile(initBin)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(bootplanBin)
	if err != nil {
		return err
	}
	a, err := release.Archive(i, b)
	if err != nil {
		return err
	}
	name := release.Name(version, arch)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, name), a, 0o644); err != nil {
		return err
	}
	sums, err := os.OpenFile(filepath.Join(out, "SHA256SUMS"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer sums.Close()
	if _, err := fmt.Fprintf(sums, "%x  %s\n", sha256.Sum256(a), name); err != nil {
		return err
	}
	fmt.Printf("%s %d bytes\n", filepath.Join(out, name), len(a))
	return sums.Close()
}
