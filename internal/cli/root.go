// Package cli is the `strata` command line: it parses flags and calls the packages that do the
// work. It holds no logic of its own beyond presenting results (human tables or --json).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/storage"
)

// Version is the strata version, set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// globals are the flags every command shares.
type globals struct {
	json       bool
	s3Endpoint string
	quiet      bool
	stdout     io.Writer
	stderr     io.Writer
}

func (g *globals) storageOptions() storage.Options {
	return storage.Options{S3Endpoint: g.s3Endpoint}
}

// Main runs the CLI with args and returns the process exit status: 0 on success, 1 on error, 2 on
// a usage error.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := newRoot(g)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(g.stderr, "strata: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Strata: an event log, Delta Lake tables, SQL pipelines and serving in one binary",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.BoolVar(&g.json, "json", false, "print the result as JSON")
	pf.StringVar(&g.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint for s3:// locations (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, or AWS)")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress output")
	root.AddCommand(newTableCmd(g), newSQLCmd(g), newInitCmd(g))
	root.AddCommand(newBenchCmd(g), newGenCmd(g), newLogCmd(g), newPipelineCmd(g), newServeCmd(g), newDemoCmd(g))
	return root
}
