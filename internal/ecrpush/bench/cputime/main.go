// Command cputime runs commands interleaved, -n rounds, and prints the
// median CPU time (user + system, from the kernel's accounting of each
// child) of each, and of each after the first relative to the first:
//
//	cputime -n 31 -- ./ecr-push --version -- ./crane version
//
// CPU time, not wall time: on a shared, loaded machine wall times say more
// about the neighbours than about the program. Interleaving spreads the
// neighbours' noise evenly over the commands compared.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 21, "rounds")
	quiet := flag.Bool("q", false, "print only the medians, in ms, one per line")
	flag.Parse()
	cmds := split(flag.Args())
	if len(cmds) == 0 {
		fmt.Fprintln(os.Stderr, "usage: cputime [-n N] -- CMD ARGS... [-- CMD ARGS...]")
		os.Exit(2)
	}
	times := make([][]time.Duration, len(cmds))
	for range *n {
		for i, c := range cmds {
			d, err := cpu(c)
			if err != nil {
				fmt.Fprintf(os.Stderr, "cputime: %s: %v\n", strings.Join(c, " "), err)
				os.Exit(1)
			}
			times[i] = append(times[i], d)
		}
	}
	med := make([]time.Duration, len(cmds))
	for i := range cmds {
		slices.Sort(times[i])
		med[i] = times[i][len(times[i])/2]
	}
	for i, c := range cmds {
		if *quiet {
			fmt.Printf("%.2f\n", ms(med[i]))
			continue
		}
		line := fmt.Sprintf("%8.2f ms  %s", ms(med[i]), strings.Join(c, " "))
		if i > 0 {
			line += fmt.Sprintf("  (first is %.2fx)", float64(med[0])/float64(med[i]))
		}
		fmt.Println(line)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// split cuts args at each "--".
func split(args []string) [][]string {
	var out [][]string
	var cur []string
	for _, a := range args {
		if a == "--" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, a)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func cpu(c []string) (time.Duration, error) {
	cmd := exec.Command(c[0], c[1:]...)
	cmd.Stdout, cmd.Stderr = nil, nil
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("exit %d", exit.ExitCode())
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}
