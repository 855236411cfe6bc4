package stage2

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/kmod"
	"github.com/bootplan/bootplan/internal/testneed"
)

// LoadModule must go through kmod.LoadFile (the one loader: compressed-file flag for
// .ko.xz/.gz/.zst, EEXIST is success), not a finit_module call of its own.
func TestLinuxHostLoadModuleUsesKmod(t *testing.T) {
	if reflect.ValueOf(loadModuleFile).Pointer() != reflect.ValueOf(kmod.LoadFile).Pointer() {
		t.Fatal("LinuxHost.LoadModule does not load through kmod.LoadFile")
	}
	old := loadModuleFile
	t.Cleanup(func() { loadModuleFile = old })
	var got []string
	loadModuleFile = func(file, params string) error {
		got = append(got, file+" "+params)
		return nil
	}
	if err := (&LinuxHost{}).LoadModule("/lib/modules/x/kernel/fs/xfs/xfs.ko.xz", "a=1"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "/lib/modules/x/kernel/fs/xfs/xfs.ko.xz a=1" {
		t.Fatalf("loader calls %q", got)
	}
}

const execChildEnv = "BOOTPLAN_TEST_EXEC_CHILD"

// TestExecKeepsCapSysBoot runs LinuxHost.Exec in a child process as root with a program that
// passes the pre-check but that execve refuses (no #! line, not ELF), after dropping to uid
// 65534: the failure path must still hold CAP_SYS_BOOT (reboot(2) would fail with EPERM and
// hang the machine otherwise). A second child execs a real program as 65534 and shows it
// starts with no capabilities (nothing leaks into the workload).
func TestExecKeepsCapSysBoot(t *testing.T) {
	testneed.Root(t, "setuid to 65534 and capabilities (replace-init's power-off capability)")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "not-a-program")
	if err := os.WriteFile(bad, []byte("this is no program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(mode, arg string) string {
		c := exec.Command(os.Args[0], "-test.run=^TestExecChild$", "-test.v", "-test.count=1")
		c.Env = append(os.Environ(), execChildEnv+"="+mode, execChildEnv+"_ARG="+arg)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("child %s: %v\n%s", mode, err, out)
		}
		return string(out)
	}
	out := run("fail", bad)
	if !strings.Contains(out, "CHILD-OK") {
		t.Fatalf("child did not report:\n%s", out)
	}
	out = run("status", "/proc/self/status")
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(out, want) {
			t.Errorf("exec'd workload status lacks %q:\n%s", want, out)
		}
	}
}

// TestExecChild is the child of TestExecKeepsCapSysBoot (skipped unless started by it).
func TestExecChild(t *testing.T) {
	mode := os.Getenv(execChildEnv)
	if mode == "" {
		t.Skip("helper process of TestExecKeepsCapSysBoot")
	}
	arg := os.Getenv(execChildEnv + "_ARG")
	cmd := Cmd{Path: arg, Args: []string{arg}, UID: 65534, GID: 65534, Groups: []uint32{}, Credential: true, Dir: "/"}
	if mode == "status" {
		cmd.Path, cmd.Args = "/bin/cat", []string{"cat", arg}
	}
	err := (&LinuxHost{}).Exec(cmd)
	if mode == "status" {
		t.Fatalf("exec of /bin/cat returned: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "execve failed: "+arg) {
		t.Fatalf("Exec error = %v", err)
	}
	if uid := unix.Getuid(); uid != 65534 {
		t.Fatalf("uid %d after Exec, want 65534 (not dropped?)", uid)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	if data[0].Effective&(1<<unix.CAP_SYS_BOOT) == 0 {
		t.Fatalf("CAP_SYS_BOOT not effective after the failed execve: %+v", data)
	}
	if data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0 || data[0].Effective&(1<<unix.CAP_SETUID) != 0 {
		t.Fatalf("more than CAP_SYS_BOOT effective: %+v", data)
	}
	fmt.Println("CHILD-OK")
}

func TestCheckProgram(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	prog, noexec := mk("prog", 0o755), mk("data", 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(prog, link)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, err string }{
		{prog, ""},
		{link, ""},
		{filepath.Join(dir, "missing"), filepath.Join(dir, "missing") + ": No such file or directory"},
		{dir, dir + ": Is a directory"},
		{noexec, noexec + ": Permission denied (no execute bit, mode 0644)"},
		{fifo, fifo + ": not a regular file"},
		{"", "empty program path"},
	} {
		err := CheckProgram(os.Stat, tc.path)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckProgram(%q) = %v, want %q", tc.path, err, tc.err)
		}
	}
	// LinuxHost.Exec refuses before touching credentials: this process keeps its uid.
	uid := os.Getuid()
	err := (&LinuxHost{}).Exec(Cmd{Path: filepath.Join(dir, "missing"), UID: 65534, GID: 65534, Credential: true})
	if err == nil || !strings.Contains(err.Error(), "missing: No such file or directory") || os.Getuid() != uid {
		t.Fatalf("Exec of a missing program: %v (uid %d → %d)", err, uid, os.Getuid())
	}
}

// The machine's host writes a volume's tree without following a symlink anywhere below the
// base, and reads never wait on a FIFO planted where a file is expected.
func TestLinuxHostBeneathAndFIFO(t *testing.T) {
	dir := t.TempDir()
	h := &LinuxHost{}
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(filepath.Join(dir, "srv/www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../etc", filepath.Join(dir, "srv/www/css")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteFileBeneath(filepath.Join(dir, "srv"), "www/css/app.css", []byte("x"), 0o644, -1, -1); err == nil || !strings.Contains(err.Error(), "www/css is a symlink") {
		t.Errorf("err = %v, want the symlink refused", err)
	}
	if ents, _ := os.ReadDir(etc); len(ents) != 0 {
		t.Errorf("written through the symlink: %v", ents)
	}
	created, err := h.WriteFileBeneath(filepath.Join(dir, "srv"), "www/js/app.js", []byte("x"), 0o644, -1, -1)
	if err != nil || len(created) != 1 || created[0] != filepath.Join(dir, "srv/www/js") {
		t.Errorf("created %v, %v", created, err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReadFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile of a FIFO: %v, want a refusal (and no wait)", err)
	}
}
