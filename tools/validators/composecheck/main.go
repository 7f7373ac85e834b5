// Command composecheck loads Compose files the way Docker Compose does, with the Compose
// Specification's own loader (github.com/compose-spec/compose-go/v2): schema validation,
// interpolation and consistency checks on. It exits 1 with the loader's message when a file is
// invalid, so a broken docker-compose.yml fails CI on a machine with no Docker.
//
// Usage: composecheck [-env-file FILE]... COMPOSE_FILE...
//
// Variables are interpolated from the env files only (default: .env.example beside the first
// compose file), never from the caller's environment, so the verdict does not depend on who runs
// it: .env holds real secrets and is never committed, and .env.example names every variable.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type envFiles []string

func (e *envFiles) String() string     { return strings.Join(*e, ",") }
func (e *envFiles) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	var env envFiles
	flag.Var(&env, "env-file", "file of variables to interpolate (repeatable; default: .env.example beside the first compose file)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: composecheck [-env-file FILE]... COMPOSE_FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	files := flag.Args()
	for _, file := range files {
		// Checked first: otherwise a missing compose file is reported as a missing env file beside it.
		if _, err := os.Stat(file); err != nil {
			fmt.Fprintf(os.Stderr, "composecheck: %v\n", err)
			os.Exit(1)
		}
	}
	dir := filepath.Dir(files[0])
	if len(env) == 0 {
		env = envFiles{filepath.Join(dir, ".env.example")}
	}
	if err := check(files, dir, env); err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: %s: %v\n", strings.Join(files, ", "), err)
		os.Exit(1)
	}
}

func check(files []string, dir string, env []string) error {
	options, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(dir),
		cli.WithEnvFiles(env...),
		cli.WithDotEnv,
	)
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	services := project.ServiceNames()
	volumes := make([]string, 0, len(project.Volumes))
	for name := range project.Volumes {
		volumes = append(volumes, name)
	}
	sort.Strings(services)
	sort.Strings(volumes)
	fmt.Printf("composecheck: %s: valid (services: %s; volumes: %s; variables from %s)\n",
		strings.Join(files, ", "), strings.Join(services, " "), strings.Join(volumes, " "), strings.Join(env, ", "))
	return nil
}
