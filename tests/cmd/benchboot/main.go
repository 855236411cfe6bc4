// Command benchboot is the boot benchmark (make bench-boot): it boots the minimal reference
// init (tests/cmd/refinit) and bootplan N times each, alternately (ABBA order, so drift of a
// shared machine cancels), on the same kernel, image and user data (tests/bench/boot), and
// prints per-phase medians for both, with the spread (min–max), and the ratio of the time
// from the kernel exec'ing PID 1 to the command running. It is a benchmark, never a test:
// it fails only when a boot does not reach the probe.
//
//	go run ./tests/cmd/benchboot [-n 7]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bootplan/bootplan/tests/internal/vmrun"
)

// milestone is a console line that marks the end of a phase, by prefix of its message.
type milestone struct{ name, prefix, contains string }

var milestones = map[string][]milestone{
	"refinit": {
		{"init main runs", "refinit: started", ""},
		{"NIC drivers loaded", "refinit: NIC drivers loaded", ""},
		{"DHCP lease", "refinit: eth0 ", " lease"},
		{"user data fetched", "refinit: user data:", ""},
		{"command exec'd", "refinit: exec ", ""},
	},
	"bootplan": {
		{"init main runs", "bootplan stage1 ", ""},
		{"NIC drivers loaded", "network: loaded NIC drivers", ""},
		{"DHCP lease", "network: eth0 ", " lease "},
		{"user data fetched", "user data: ", ""},
		{"plan written", "plan written to", ""},
		{"stage 2 exec'd", "exec stage2 ", ""},
		{"stage 2 main runs", "bootplan stage2 ", ""},
		{"command exec'd", "main process started", ""},
	},
}

var (
	lineRe  = regexp.MustCompile(`\[\s*(\d+)\.(\d{3})\] [a-z]+: (.*)$`)
	benchRe = regexp.MustCompile(`BENCH pid1_exec_ms=([0-9.]+) cmd_ms=([0-9.]+) pid1_rss_kb=(-?\d+)`)
	superRe = regexp.MustCompile(`BENCH supervising pid1_rss_kb=(-?\d+) anon_kb=(-?\d+) file_kb=(-?\d+)`)
)

// boot is one measured boot: milliseconds since the kernel exec'd PID 1.
type boot struct {
	at    map[string]float64 // milestone → offset
	total float64            // command running
	rssKB int
	// superKB: PID 1's VmRSS 2 s after the command started (bootplan only).
	superKB, superAnonKB, superFileKB int
	report                            []reportStep
}

type reportStep struct {
	Name       string  `toml:"name"`
	Stage      int     `toml:"stage"`
	Status     string  `toml:"status"`
	StartMS    float64 `toml:"start_ms"`
	DurationMS float64 `toml:"duration_ms"`
}

func main() {
	n := flag.Int("n", 7, "boots of each init")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintf(os.Stderr, "bench-boot: %v\n", err)
		os.Exit(1)
	}
}

func run(n int) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-boot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	overlay := filepath.Join(work, "overlay")
	for _, b := range []struct{ pkg, out string }{{"./tests/cmd/refinit", "refinit"}, {"./tests/cmd/benchprobe", "probe"}} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(overlay, "bench", b.out), b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v: %s", b.pkg, err, out)
		}
	}
	env, err := vmrun.NewEnv(root, work)
	if err != nil {
		return err
	}
	env.LogDir = filepath.Join(root, ".cache", "bench-boot")
	if err := os.MkdirAll(env.LogDir, 0o755); err != nil {
		return err
	}
	names := []string{"refinit", "bootplan"}
	scs := map[string]*vmrun.Scenario{}
	for _, name := range names {
		sc, err := vmrun.Load(filepath.Join(root, "tests", "bench", "boot", name))
		if err != nil {
			return err
		}
		sc.Overlay = overlay
		scs[name] = sc
	}
	boots := map[string][]boot{}
	for i := 0; i < n; i++ {
		order := names
		if i%2 == 1 { // ABBA: each init goes first half of the time
			order = []string{names[1], names[0]}
		}
		for _, name := range order {
			b, err := bootOnce(env, scs[name], name)
			if err != nil {
				return fmt.Errorf("%s boot %d: %w", name, i+1, err)
			}
			boots[name] = append(boots[name], b)
			fmt.Printf("boot %d/%d %-8s command at %7.1f ms\n", i+1, n, name, b.total)
		}
	}
	printTables(os.Stdout, n, boots)
	return nil
}

func bootOnce(env *vmrun.Env, sc *vmrun.Scenario, name string) (boot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sc.Config.Timeout.Duration+time.Minute)
	defer cancel()
	res, err := env.Run(ctx, sc, vmrun.Options{})
	if err != nil {
		return boot{}, err
	}
	if !res.Passed() {
		return boot{}, fmt.Errorf("%s\n%s", strings.Join(res.Problems, "; "), res.Tail)
	}
	con, err := os.ReadFile(res.Logs[0])
	if err != nil {
		return boot{}, err
	}
	return parse(vmrun.Clean(string(con)), milestones[name])
}

// parse reads one console log.
func parse(con string, ms []milestone) (boot, error) {
	b := boot{at: map[string]float64{}}
	abs := map[string]float64{}
	var exec float64 = -1
	var report strings.Builder
	// A log line can follow BIOS output on the same line (lineRe is not anchored).
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(con, "\r", "\n")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := benchRe.FindStringSubmatch(line); m != nil {
			exec, _ = strconv.ParseFloat(m[1], 64)
			b.total, _ = strconv.ParseFloat(m[2], 64)
			b.rssKB, _ = strconv.Atoi(m[3])
			continue
		}
		if m := superRe.FindStringSubmatch(line); m != nil {
			b.superKB, _ = strconv.Atoi(m[1])
			b.superAnonKB, _ = strconv.Atoi(m[2])
			b.superFileKB, _ = strconv.Atoi(m[3])
			continue
		}
		if r, ok := strings.CutPrefix(line, "BENCHREPORT "); ok {
			report.WriteString(r + "\n")
			continue
		}
		m := lineRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s, _ := strconv.Atoi(m[1])
		f, _ := strconv.Atoi(m[2])
		for _, x := range ms {
			if _, seen := abs[x.name]; !seen && strings.HasPrefix(m[3], x.prefix) && strings.Contains(m[3], x.contains) {
				abs[x.name] = float64(s)*1000 + float64(f)
			}
		}
	}
	if exec < 0 {
		return b, fmt.Errorf("no BENCH line on the console")
	}
	b.total -= exec
	for k, v := range abs {
		b.at[k] = v - exec
	}
	if report.Len() > 0 {
		var r struct {
			Steps []reportStep `toml:"step"`
		}
		if _, err := toml.Decode(report.String(), &r); err == nil {
			b.report = r.Steps
		}
	}
	return b, nil
}

// stat is the median and spread of values.
type stat struct{ med, lo, hi float64 }

func stats(v []float64) stat {
	if len(v) == 0 {
		return stat{-1, -1, -1}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1]}
}

func (s stat) String() string {
	if s.med < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f [%.0f–%.0f]", s.med, s.lo, s.hi)
}

func printTables(w *os.File, n int, boots map[string][]boot) {
	fmt.Fprintf(w, "\nboot benchmark: %d boots each, alternating; ms after the kernel exec'd PID 1, median [min–max]\n\n", n)
	for _, name := range []string{"refinit", "bootplan"} {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tMILESTONE AT\tPHASE (since previous)\n", name)
		prev := ""
		for _, m := range milestones[name] {
			var at, ph []float64
			for _, b := range boots[name] {
				v, ok := b.at[m.name]
				if !ok {
					continue
				}
				at = append(at, v)
				p := v
				if prev != "" {
					p = v - b.at[prev]
				}
				ph = append(ph, p)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.name, stats(at), stats(ph))
			prev = m.name
		}
		var tot, ph []float64
		for _, b := range boots[name] {
			tot = append(tot, b.total)
			ph = append(ph, b.total-b.at[prev])
		}
		fmt.Fprintf(tw, "  command running\t%s\t%s\n", stats(tot), stats(ph))
		tw.Flush()
		fmt.Fprintln(w)
	}
	if steps := reportStats(boots["bootplan"]); steps != "" {
		fmt.Fprint(w, steps)
	}
	var rb, rr, ratios, rss, super, anon, file []float64
	for i := range boots["bootplan"] {
		b, r := boots["bootplan"][i].total, boots["refinit"][i].total
		rb, rr = append(rb, b), append(rr, r)
		ratios = append(ratios, b/r)
		rss = append(rss, float64(boots["bootplan"][i].rssKB)/1024)
		if kb := boots["bootplan"][i].superKB; kb > 0 {
			super = append(super, float64(kb)/1024)
			anon = append(anon, float64(boots["bootplan"][i].superAnonKB)/1024)
			file = append(file, float64(boots["bootplan"][i].superFileKB)/1024)
		}
	}
	sb, sr, sq := stats(rb), stats(rr), stats(ratios)
	fmt.Fprintf(w, "PID 1 exec → command running: bootplan %s ms, refinit %s ms\n", sb, sr)
	fmt.Fprintf(w, "ratio of medians %.2f×; per-pair ratio median %.2f× [%.2f–%.2f]\n", sb.med/sr.med, sq.med, sq.lo, sq.hi)
	s := stats(rss)
	fmt.Fprintf(w, "bootplan PID 1 VmRSS when the command starts: %.1f MiB [%.1f–%.1f]\n", s.med, s.lo, s.hi)
	if s := stats(super); s.med >= 0 {
		a, f := stats(anon), stats(file)
		fmt.Fprintf(w, "bootplan PID 1 VmRSS supervising (2 s later): %.1f MiB [%.1f–%.1f] (anonymous %.1f, file and shmem %.1f)\n", s.med, s.lo, s.hi, a.med, f.med)
	}
}

// reportStats renders the median start and duration of every step in bootplan's boot report.
func reportStats(boots []boot) string {
	type key struct {
		stage int
		name  string
	}
	var order []key
	start, dur := map[key][]float64{}, map[key][]float64{}
	for _, b := range boots {
		for _, s := range b.report {
			k := key{s.Stage, s.Name}
			if _, ok := start[k]; !ok {
				order = append(order, k)
			}
			if s.Status == "not-run" {
				continue
			}
			start[k] = append(start[k], s.StartMS)
			dur[k] = append(dur[k], s.DurationMS)
		}
	}
	if len(order) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("bootplan boot report (report.toml), ms, median [min–max]\n")
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  STAGE\tSTEP\tSTART\tDURATION\n")
	for _, k := range order {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", k.stage, k.name, stats(start[k]), stats(dur[k]))
	}
	tw.Flush()
	sb.WriteString("\n")
	return sb.String()
}
