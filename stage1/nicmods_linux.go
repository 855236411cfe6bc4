package stage1

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/kmod"
)

// nicDrivers are loaded by name when sysfs shows no network device to match by modalias:
// virtio_pci and virtio_net (QEMU), ena (EC2 Nitro). Dependencies come from modules.dep.
var nicDrivers = []string{"virtio_pci", "virtio_net", "ena"}

// nicFallbackOrder is the load order used when the image has no modules.dep (depmod never
// ran): virtio_net's dependencies spelled out, then ena.
var nicFallbackOrder = []string{
	"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
	"failover", "net_failover", "virtio_net", "ena",
}

// loadNICModules loads the drivers of the network devices present (PCI network controllers,
// then the virtio network devices that binding virtio_pci reveals), matching their modalias
// against modules.alias under root/lib/modules/<release>. It returns what it loaded.
func loadNICModules(root string) ([]string, error) {
	release, err := kmod.Release()
	if err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	ix, err := kmod.Open(os.ReadFile, root, release)
	if err != nil {
		console.Debugf("network: %v; looking for NIC driver files directly", err)
		return loadNICFallback(filepath.Join(root, "lib/modules", release))
	}
	var loaded []string
	var errs []error
	load := func(names []string) {
		for _, m := range names {
			files, builtin, err := ix.Resolve(m)
			if err != nil || builtin || len(files) == 0 {
				continue // not a module of this kernel
			}
			if err := ix.Load(m, "", kmod.LoadFile); err != nil {
				errs = append(errs, err)
				continue
			}
			loaded = append(loaded, kmod.NameOf(files[len(files)-1]))
		}
	}
	// PCI first; binding virtio_pci creates the virtio devices, matched in the second round.
	for _, bus := range []string{"pci", "virtio"} {
		load(NICModaliases(sysfsDevices(filepath.Join(root, "sys/bus", bus, "devices"))))
	}
	if len(loaded) == 0 && len(errs) == 0 {
		console.Debugf("network: no network device in sysfs matched a module alias; trying %v", nicDrivers)
		load(nicDrivers)
	}
	if len(loaded) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, e := range errs {
		console.Warnf("network: %v", e)
	}
	return loaded, nil
}

// sysfsDevices reads class and modalias of each device under a /sys/bus/<bus>/devices dir.
func sysfsDevices(dir string) []Device {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var devs []Device
	for _, e := range ents {
		alias, err := os.ReadFile(filepath.Join(dir, e.Name(), "modalias"))
		if err != nil {
			continue
		}
		class, _ := os.ReadFile(filepath.Join(dir, e.Name(), "class"))
		devs = append(devs, Device{Class: strings.TrimSpace(string(class)), Modalias: strings.TrimSpace(string(alias))})
	}
	return devs
}

func loadNICFallback(dir string) ([]string, error) {
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			if n := kmod.NameOf(p); files[n] == "" {
				files[n] = p
			}
		}
		return nil // unreadable corners are skipped
	})
	if len(files) == 0 {
		return nil, fmt.Errorf("no kernel modules under %s", dir)
	}
	var loaded []string
	var errs []error
	for _, m := range nicFallbackOrder {
		p, ok := files[m]
		if !ok {
			continue
		}
		if err := kmod.LoadFile(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("load %s: %w", m, err))
			continue
		}
		loaded = append(loaded, m)
	}
	if len(loaded) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, e := range errs {
		console.Warnf("network: %v", e)
	}
	return loaded, nil
}
