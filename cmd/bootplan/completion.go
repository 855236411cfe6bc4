package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func init() {
	register(command{name: "completion", summary: "print a shell completion script (bash, zsh or fish)",
		args: "bash|zsh|fish", define: defineCompletion})
}

// Install: bash: `source <(bootplan completion bash)`; zsh: `source <(bootplan completion zsh)`;
// fish: `bootplan completion fish | source`. The scripts are generated from the registered
// commands and their flags, so they never drift from the CLI.
func defineCompletion(fs *flag.FlagSet) func([]string) int {
	return func(pos []string) int {
		if len(pos) != 1 {
			fs.Usage()
			return exitUsage
		}
		var s string
		switch pos[0] {
		case "bash":
			s = bashCompletion()
		case "zsh":
			s = "autoload -U +X bashcompinit && bashcompinit\n" + bashCompletion()
		case "fish":
			s = fishCompletion()
		default:
			return fail(exitUsage, "completion", "unknown shell %q: want bash, zsh or fish", pos[0])
		}
		if _, err := os.Stdout.WriteString(s); err != nil {
			return fail(exitUsage, "completion", "%v", err)
		}
		return exitOK
	}
}

// flagNames lists a command's flags as --name.
func flagNames(c command) []string {
	if c.define == nil {
		return nil
	}
	fs := newFlagSet(c)
	c.define(fs)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	return append(names, "--help")
}

func bashCompletion() string {
	fn := "_" + strings.ReplaceAll(program, "-", "_")
	var b strings.Builder
	fmt.Fprintf(&b, "# %s completion for bash (and zsh through bashcompinit)\n", program)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]}\n")
	b.WriteString("  if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
	fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W '%s help --help --version' -- \"$cur\"))\n", strings.Join(commandNames(), " "))
	b.WriteString("    return\n  fi\n")
	b.WriteString("  local cmd=${COMP_WORDS[1]}\n")
	b.WriteString("  [ \"$cmd\" = help ] && { COMPREPLY=($(compgen -W '" + strings.Join(commandNames(), " ") + "' -- \"$cur\")); return; }\n")
	b.WriteString("  case \"$cmd\" in\n")
	for _, n := range commandNames() {
		c := commands[n]
		words := flagNames(c)
		if n == "completion" {
			words = append(words, "bash", "zsh", "fish")
		}
		fmt.Fprintf(&b, "    %s) local words='%s';;\n", n, strings.Join(words, " "))
	}
	b.WriteString("    *) local words='';;\n  esac\n")
	b.WriteString("  case \"$cur\" in\n    -*) COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"));;\n")
	b.WriteString("    *) COMPREPLY=($(compgen -f -- \"$cur\") $(compgen -W \"$words\" -- \"$cur\"));;\n  esac\n}\n")
	fmt.Fprintf(&b, "complete -o filenames -F %s %s\n", fn, program)
	return b.String()
}

func fishCompletion() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s completion for fish\n", program)
	fmt.Fprintf(&b, "complete -c %s -f -n __fish_use_subcommand -l version -d 'print the version'\n", program)
	for _, n := range commandNames() {
		c := commands[n]
		fmt.Fprintf(&b, "complete -c %s -f -n __fish_use_subcommand -a %s -d %s\n", program, n, fishQuote(c.summary))
		for _, f := range flagNames(c) {
			fmt.Fprintf(&b, "complete -c %s -n '__fish_seen_subcommand_from %s' -l %s\n", program, n, strings.TrimPrefix(f, "--"))
		}
	}
	fmt.Fprintf(&b, "complete -c %s -f -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n", program)
	return b.String()
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
