// Command demo boots the example image (tests/scenarios/demo) in QEMU and streams its serial
// console to stdout. It is what `make demo` runs; the guest powers off by itself.
//
// Given a scenario of a real image (`make demo IMAGE=postgres`: image = "..." in its
// scenario.toml), it boots that once and keeps it running: it prints the forwarded ports and
// the scenario's connect hint, runs none of the checks, and Ctrl-C presses the power button
// (a second Ctrl-C stops QEMU).
//
//	go run ./tests/cmd/demo [scenario-dir]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bootplan/bootplan/tests/internal/vmrun"
)

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 20; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("not inside the bootplan repository (no go.mod found)")
}

func run() error {
	root, err := findRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "tests", "scenarios", "demo")
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	sc, err := vmrun.Load(dir)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bootplan-demo-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	defer os.RemoveAll(work)
	env, err := vmrun.NewEnv(root, work)
	if err != nil {
		return err
	}
	if sc.Config.Image != "" {
		return interactive(env, sc)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(sc.Config.Boots)*sc.Config.Timeout.Duration+time.Minute)
	defer cancel()
	fmt.Printf("==> booting %s in QEMU (TCG; the guest powers off by itself)\n", sc.Name)
	start := time.Now()
	res, err := env.Run(ctx, sc, vmrun.Options{Live: os.Stdout})
	if err != nil {
		return err
	}
	fmt.Printf("\n==> %s finished in %s; console log: %s\n", sc.Name, time.Since(start).Round(100*time.Millisecond), strings.Join(res.Logs, " "))
	if !res.Passed() {
		return fmt.Errorf("demo did not go as expected:\n  %s", strings.Join(res.Problems, "\n  "))
	}
	fmt.Println("==> demo OK")
	return nil
}

// interactiveLimit bounds an interactive demo (someone forgot it in a terminal).
const interactiveLimit = 2 * time.Hour

// interactive boots a real image's scenario once and keeps it running until the guest powers
// off: the first Ctrl-C (or SIGTERM) presses the power button, the second stops QEMU.
func interactive(env *vmrun.Env, sc *vmrun.Scenario) error {
	sc.Config.Timeout.Duration = interactiveLimit
	ctx, cancel := context.WithTimeout(context.Background(), interactiveLimit+time.Minute)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	button := make(chan struct{}, 1)
	go func() {
		pressed := false
		for {
			select {
			case <-sigs:
				if pressed {
					fmt.Println("\n==> stopping QEMU")
					cancel()
					return
				}
				pressed = true
				fmt.Println("\n==> pressing the power button")
				button <- struct{}{}
			case <-ctx.Done():
				return
			}
		}
	}()
	fmt.Printf("==> booting the %s image (scenario %s) in QEMU (TCG); the console follows\n", sc.Config.Image, sc.Name)
	start := time.Now()
	res, err := env.Run(ctx, sc, vmrun.Options{Live: os.Stdout, Interactive: true, PowerButton: button})
	if err != nil && ctx.Err() == nil {
		return err
	}
	logs := ""
	if res != nil {
		logs = strings.Join(res.Logs, " ")
	}
	fmt.Printf("\n==> %s ran for %s; console log: %s\n", sc.Name, time.Since(start).Round(100*time.Millisecond), logs)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}
